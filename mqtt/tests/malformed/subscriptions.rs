//! Malformed SUBSCRIBE / UNSUBSCRIBE payloads: topic filters, shared
//! subscriptions, subscription options, empty lists.

use mqtt::DecodeError::*;
use mqtt::Protocol::{V31, V311, V5};

use super::{case, Case};

/// SUBSCRIBE / UNSUBSCRIBE payloads.
pub(super) fn subscriptions() -> Vec<Case> {
    vec![
        case(
            "filter 'a/#/b': '#' not last",
            V311,
            &[
                0x82, 0x0A, // SUBSCRIBE, remaining length 10
                0x00, 0x01, // packet id 1
                0x00, 0x05, b'a', b'/', b'#', b'/', b'b', // filter "a/#/b"
                0x00, // options: QoS 0
            ],
            InvalidTopicFilter,
        ),
        case(
            "filter 'a+': '+' not a whole level",
            V311,
            &[
                0x82, 0x07, // SUBSCRIBE, remaining length 7
                0x00, 0x01, // packet id 1
                0x00, 0x02, b'a', b'+', // filter "a+"
                0x00, // options: QoS 0
            ],
            InvalidTopicFilter,
        ),
        case(
            "filter '#a': '#' not a whole level",
            V5,
            &[
                0x82, 0x08, // SUBSCRIBE, remaining length 8
                0x00, 0x01, // packet id 1
                0x00, // property length 0
                0x00, 0x02, b'#', b'a', // filter "#a"
                0x00, // options: QoS 0
            ],
            InvalidTopicFilter,
        ),
        case(
            "empty filter",
            V311,
            &[
                0x82, 0x05, // SUBSCRIBE, remaining length 5
                0x00, 0x01, // packet id 1
                0x00, 0x00, // filter ""
                0x00, // options: QoS 0
            ],
            InvalidTopicFilter,
        ),
        case(
            "second filter '##' after a valid one",
            V311,
            &[
                0x82, 0x0B, // SUBSCRIBE, remaining length 11
                0x00, 0x01, // packet id 1
                0x00, 0x01, b'a', // filter "a"
                0x00, // options: QoS 0
                0x00, 0x02, b'#', b'#', // filter "##"
                0x00, // options: QoS 0
            ],
            InvalidTopicFilter,
        ),
        case(
            "shared subscription without a filter: '$share/g'",
            V5,
            &[
                0x82, 0x0E, // SUBSCRIBE, remaining length 14
                0x00, 0x01, // packet id 1
                0x00, // property length 0
                0x00, 0x08, b'$', b's', b'h', b'a', b'r', b'e', b'/',
                b'g', // filter "$share/g"
                0x00, // options: QoS 0
            ],
            InvalidTopicFilter,
        ),
        case(
            "shared subscription with an empty share name: '$share//a'",
            V5,
            &[
                0x82, 0x0F, // SUBSCRIBE, remaining length 15
                0x00, 0x01, // packet id 1
                0x00, // property length 0
                0x00, 0x09, b'$', b's', b'h', b'a', b'r', b'e', b'/', b'/',
                b'a', // filter "$share//a"
                0x00, // options: QoS 0
            ],
            InvalidTopicFilter,
        ),
        case(
            "UNSUBSCRIBE filter 'a/#/b'",
            V311,
            &[
                0xA2, 0x09, // UNSUBSCRIBE, remaining length 9
                0x00, 0x01, // packet id 1
                0x00, 0x05, b'a', b'/', b'#', b'/', b'b', // filter "a/#/b"
            ],
            InvalidTopicFilter,
        ),
        case(
            "UNSUBSCRIBE filter 'a+' (v5)",
            V5,
            &[
                0xA2, 0x07, // UNSUBSCRIBE, remaining length 7
                0x00, 0x01, // packet id 1
                0x00, // property length 0
                0x00, 0x02, b'a', b'+', // filter "a+"
            ],
            InvalidTopicFilter,
        ),
        case(
            "SUBSCRIBE without filters",
            V311,
            &[
                0x82, 0x02, // SUBSCRIBE, remaining length 2
                0x00, 0x01, // packet id 1 and nothing else
            ],
            EmptySubscription,
        ),
        case(
            "SUBSCRIBE without filters (v5)",
            V5,
            &[
                0x82, 0x03, // SUBSCRIBE, remaining length 3
                0x00, 0x01, // packet id 1
                0x00, // property length 0, and nothing else
            ],
            EmptySubscription,
        ),
        case(
            "UNSUBSCRIBE without filters",
            V311,
            &[
                0xA2, 0x02, // UNSUBSCRIBE, remaining length 2
                0x00, 0x01, // packet id 1 and nothing else
            ],
            EmptySubscription,
        ),
        case(
            "SUBACK without reason codes (v5)",
            V5,
            &[
                0x90, 0x03, // SUBACK, remaining length 3
                0x00, 0x01, // packet id 1
                0x00, // property length 0, and nothing else
            ],
            EmptySubscription,
        ),
        case(
            "subscription options bit 6 (reserved, v5)",
            V5,
            &[
                0x82, 0x07, // SUBSCRIBE, remaining length 7
                0x00, 0x01, // packet id 1
                0x00, // property length 0
                0x00, 0x01, b'a', // filter "a"
                0x40, // options: reserved bit 6
            ],
            InvalidSubscriptionOptions(0x40),
        ),
        case(
            "subscription options bit 7 (reserved, v5)",
            V5,
            &[
                0x82, 0x07, // SUBSCRIBE, remaining length 7
                0x00, 0x01, // packet id 1
                0x00, // property length 0
                0x00, 0x01, b'a', // filter "a"
                0x81, // options: reserved bit 7, QoS 1
            ],
            InvalidSubscriptionOptions(0x81),
        ),
        case(
            "No Local bit before v5 (reserved there)",
            V311,
            &[
                0x82, 0x06, // SUBSCRIBE, remaining length 6
                0x00, 0x01, // packet id 1
                0x00, 0x01, b'a', // filter "a"
                0x04, // options: bit 2 (No Local in v5) is reserved in 3.1.1
            ],
            InvalidSubscriptionOptions(0x04),
        ),
        case(
            "retain handling bits before v5 (reserved there)",
            V31,
            &[
                0x82, 0x06, // SUBSCRIBE, remaining length 6
                0x00, 0x01, // packet id 1
                0x00, 0x01, b'a', // filter "a"
                0x10, // options: bit 4 is reserved in 3.1
            ],
            InvalidSubscriptionOptions(0x10),
        ),
        case(
            "retain handling 3",
            V5,
            &[
                0x82, 0x07, // SUBSCRIBE, remaining length 7
                0x00, 0x01, // packet id 1
                0x00, // property length 0
                0x00, 0x01, b'a', // filter "a"
                0x30, // options: retain handling 3, QoS 0
            ],
            InvalidSubscriptionOptions(0x30),
        ),
        case(
            "retain handling 3 with QoS 1 and No Local",
            V5,
            &[
                0x82, 0x07, // SUBSCRIBE, remaining length 7
                0x00, 0x01, // packet id 1
                0x00, // property length 0
                0x00, 0x01, b'a', // filter "a"
                0x35, // options: retain handling 3, No Local, QoS 1
            ],
            InvalidSubscriptionOptions(0x35),
        ),
        case(
            "subscription QoS 3",
            V311,
            &[
                0x82, 0x06, // SUBSCRIBE, remaining length 6
                0x00, 0x01, // packet id 1
                0x00, 0x01, b'a', // filter "a"
                0x03, // options: QoS 3
            ],
            InvalidQoS,
        ),
        case(
            "No Local on a shared subscription",
            V5,
            &[
                0x82, 0x10, // SUBSCRIBE, remaining length 16
                0x00, 0x01, // packet id 1
                0x00, // property length 0
                0x00, 0x0A, b'$', b's', b'h', b'a', b'r', b'e', b'/', b'g', b'/',
                b'a', // filter "$share/g/a"
                0x04, // options: No Local, QoS 0
            ],
            NoLocalOnSharedSubscription,
        ),
    ]
}
