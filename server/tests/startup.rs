//! Start-up: once every listener accepts, the broker prints one line on
//! standard output, `kite-server ready tcp=ADDR http=ADDR [tls=ADDR]`,
//! naming the addresses it bound. Started on port 0 the kernel picks free
//! ports, and the ready line is the only way to know them: the test
//! harnesses read it instead of polling a port that might answer for
//! another process (or a TCP self-connect).

mod common;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn the_ready_line_names_the_ports_that_answer() {
    let a = Broker::start().await;
    let b = Broker::start().await;
    // Each broker got its own ports from the kernel (all started on port 0).
    let ports = [a.tcp, a.http, b.tcp, b.http];
    for (i, port) in ports.iter().enumerate() {
        assert_ne!(*port, 0);
        assert!(!ports[i + 1..].contains(port), "{ports:?}");
    }
    for broker in [&a, &b] {
        // The tcp port speaks MQTT ...
        let (_c, connack) = Raw::connect(broker, &Connect::v311("probe")).await;
        assert!(connack.code.is_success());
        // ... the http port HTTP.
        let mut http = tokio::net::TcpStream::connect(("127.0.0.1", broker.http))
            .await
            .unwrap();
        http.write_all(b"GET /metrics HTTP/1.1\r\nHost: k\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut reply = String::new();
        within("HTTP reply", http.read_to_string(&mut reply))
            .await
            .unwrap();
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
        // And the line is printed once, after the listeners.
        let log = broker.log();
        let ready: Vec<&str> = log
            .lines()
            .filter(|l| l.starts_with("kite-server ready "))
            .collect();
        assert_eq!(
            ready,
            [format!(
                "kite-server ready tcp=127.0.0.1:{} http=127.0.0.1:{}",
                broker.tcp, broker.http
            )]
        );
    }
}
