//! The will of a connection whose client id another connection takes over
//! (docs/sessions.md, "Wills on takeover"). The rule, as Mosquitto's: the
//! will is due when the old connection's session ends. It ends unless the
//! old session is persistent (3.1.1 clean session 0; v5 a session expiry
//! above 0) and the new connection continues it (clean session / clean
//! start 0). When the session ends with the takeover, a v5 Will Delay
//! Interval ends with it (§3.1.3.2.2): the will goes at once.
//!
//! | row | old connection            | new connection | will                  |
//! |-----|---------------------------|----------------|-----------------------|
//! | 1   | 3.1.1 clean 1             | clean 1        | published             |
//! | 2   | 3.1.1 clean 1             | clean 0        | published             |
//! | 3   | 3.1.1 clean 0             | clean 0        | not published         |
//! | 4   | 3.1.1 clean 0             | clean 1        | published             |
//! | 5   | v5 expiry 0               | clean start 0  | published             |
//! | 6   | v5 expiry 300             | clean start 0  | not published         |
//! | 7   | v5 expiry 300, delay 1 s  | clean start 0  | not published, ever   |
//! | 8   | v5 expiry 300, delay 30 s | clean start 1  | published at once     |
//! | 9   | v5 expiry 300             | clean start 1  | published             |

mod common;

use std::time::Duration;

use common::*;

/// A will on `will/t` (v5: with these will properties).
fn will(props: Vec<u8>) -> Will<'static> {
    Will {
        topic: "will/t",
        payload: b"gone",
        props,
        ..Will::default()
    }
}

/// Session Expiry Interval 300 s (CONNECT property 0x11).
fn expiry_300() -> Vec<u8> {
    prop_u32(0x11, 300)
}

/// Will Delay Interval (will property 0x18).
fn will_delay(seconds: u32) -> Vec<u8> {
    prop_u32(0x18, seconds)
}

/// Connect `old` (with its will), take its client id over with `new`, and
/// return the broker, a watcher of `will/#`, and the new connection.
async fn take_over(old: Connect<'_>, new: Connect<'_>) -> (Broker, Raw, Raw) {
    let broker = Broker::start().await;
    let mut watcher = Raw::v311(&broker, "watcher").await;
    assert_eq!(watcher.subscribe(1, "will/#", 1).await, 1);
    let (mut first, _) = Raw::connect(&broker, &old).await;
    let (second, _) = Raw::connect(&broker, &new).await;
    // The old connection is closed (v5: with DISCONNECT 0x8E first).
    first.expect_closed().await;
    (broker, watcher, second)
}

async fn published(watcher: &mut Raw) {
    let p = watcher.publish().await;
    assert_eq!((&*p.topic, &p.payload[..]), ("will/t", &b"gone"[..]));
}

#[tokio::test]
async fn row_1_v311_clean_taken_over_by_clean_publishes() {
    let old = Connect::v311("c").will(will(vec![]));
    let (_b, mut w, _c) = take_over(old, Connect::v311("c")).await;
    published(&mut w).await;
}

#[tokio::test]
async fn row_2_v311_clean_taken_over_by_persistent_publishes() {
    let old = Connect::v311("c").will(will(vec![]));
    let (_b, mut w, _c) = take_over(old, Connect::v311("c").clean(false)).await;
    published(&mut w).await;
}

#[tokio::test]
async fn row_3_v311_persistent_continued_does_not_publish() {
    let old = Connect::v311("c").clean(false).will(will(vec![]));
    let (_b, mut w, _c) = take_over(old, Connect::v311("c").clean(false)).await;
    w.expect_silence().await;
}

#[tokio::test]
async fn row_4_v311_persistent_taken_over_by_clean_publishes() {
    let old = Connect::v311("c").clean(false).will(will(vec![]));
    let (_b, mut w, _c) = take_over(old, Connect::v311("c")).await;
    published(&mut w).await;
}

#[tokio::test]
async fn row_5_v5_without_session_expiry_publishes() {
    let old = Connect::v5("c").will(will(vec![]));
    let (_b, mut w, _c) = take_over(old, Connect::v5("c").clean(false)).await;
    published(&mut w).await;
}

#[tokio::test]
async fn row_6_v5_persistent_continued_does_not_publish() {
    let old = Connect::v5("c").props(expiry_300()).will(will(vec![]));
    let new = Connect::v5("c").clean(false).props(expiry_300());
    let (_b, mut w, _c) = take_over(old, new).await;
    w.expect_silence().await;
}

#[tokio::test]
async fn row_7_v5_persistent_continued_with_a_will_delay_never_publishes() {
    let old = Connect::v5("c")
        .props(expiry_300())
        .will(will(will_delay(1)));
    let new = Connect::v5("c").clean(false).props(expiry_300());
    let (_b, mut w, _c) = take_over(old, new).await;
    tokio::time::sleep(Duration::from_millis(1200)).await; // past the delay
    w.expect_silence().await;
}

#[tokio::test]
async fn row_8_v5_persistent_taken_over_by_clean_start_publishes_at_once() {
    let old = Connect::v5("c")
        .props(expiry_300())
        .will(will(will_delay(30)));
    let (_b, mut w, _c) = take_over(old, Connect::v5("c")).await;
    // Within the harness's wait (5 s), far less than the 30 s delay.
    published(&mut w).await;
}

#[tokio::test]
async fn row_9_v5_persistent_taken_over_by_clean_start_publishes() {
    let old = Connect::v5("c").props(expiry_300()).will(will(vec![]));
    let (_b, mut w, _c) = take_over(old, Connect::v5("c")).await;
    published(&mut w).await;
}
