//! The client side of a [`crate::many`] run, in a process of its own
//! (`kite-bench many-worker`): a process may hold no more sockets than its
//! open-file limit (20,000 here, and raising a hard limit takes
//! CAP_SYS_RESOURCE), so the connections are shared among workers and only
//! the broker's own limit caps the run.
//!
//! A worker holds connections `index`, `index + stride`, `index + 2 × stride`,
//! … of the run, so every worker fills at the same pace. It answers one line
//! on stdout for each command line on stdin:
//!
//! | command          | answer                          |
//! |------------------|---------------------------------|
//! | `open <count>`   | `opened <held> [first failure]` |
//! | `receive <size>` | `received <connections>`        |
//! | `ping`           | `pongs <connections>`           |
//! | `close`          | `closed`, then it exits          |
//!
//! A connection costs a socket and nothing else while idle: CONNECT and
//! SUBSCRIBE are bytes made once with the shared codec, and replies are read
//! straight off the socket.

use std::{
    net::{Ipv4Addr, SocketAddr},
    time::Duration,
};

use bytes::BytesMut;
use futures_util::{stream, StreamExt};
use mqtt::{
    encode, Connect, Packet, Properties, Protocol, Subscribe, SubscribeFilter, SubscriptionOptions,
};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{unix::pipe, TcpSocket, TcpStream},
    time::timeout,
};

/// How long one connection may take to deliver a broadcast or a PINGRESP
/// before it counts as missing.
const SWEEP_LIMIT: Duration = Duration::from_secs(30);
/// How long one connection may take to be opened and answered.
const OPEN_LIMIT: Duration = Duration::from_secs(30);

/// Where a worker connects and which connections are its own.
#[derive(Clone, Debug, clap::Args)]
pub struct Share {
    /// The broker's MQTT-over-TCP address.
    #[arg(long)]
    pub broker: SocketAddr,
    /// This worker's first connection number, and the step between its
    /// connections (the number of workers).
    #[arg(long)]
    pub index: usize,
    #[arg(long)]
    pub stride: usize,
    /// Connections per source address, and the last byte of the first
    /// source address (127.0.0.<first_source>).
    #[arg(long)]
    pub per_source: usize,
    #[arg(long)]
    pub first_source: u8,
    /// Keepalive asked for, seconds (long: idle connections stay quiet).
    #[arg(long)]
    pub keep_alive: u16,
    /// Client ids and topics start `kb-<tag>`, `kb/<tag>/`.
    #[arg(long)]
    pub tag: String,
    /// Connections this worker opens at once.
    #[arg(long)]
    pub concurrency: usize,
}

impl Share {
    /// The command-line arguments that give a worker this share.
    pub fn args(&self) -> Vec<String> {
        vec![
            format!("--broker={}", self.broker),
            format!("--index={}", self.index),
            format!("--stride={}", self.stride),
            format!("--per-source={}", self.per_source),
            format!("--first-source={}", self.first_source),
            format!("--keep-alive={}", self.keep_alive),
            format!("--tag={}", self.tag),
            format!("--concurrency={}", self.concurrency),
        ]
    }

    /// The source address of connection `n` of the run.
    pub fn source(&self, n: usize) -> Ipv4Addr {
        let last = self.first_source as usize + n / self.per_source.max(1);
        Ipv4Addr::new(127, 0, 0, last.min(254) as u8)
    }
}

/// The topic every connection subscribes to.
pub fn shared(tag: &str) -> String {
    format!("kb/{tag}/all")
}

/// CONNECT, then (`subscribe`) SUBSCRIBE to the connection's own topic and
/// the shared one.
pub fn hello(tag: &str, n: usize, keep_alive: u16, subscribe: bool) -> Vec<u8> {
    let mut out = BytesMut::new();
    let connect = Connect {
        protocol: Protocol::V311,
        bridge: false,
        clean_start: true,
        keep_alive,
        client_id: format!("kb-{tag}-{n}").into(),
        will: None,
        username: None,
        password: None,
        properties: Properties::default(),
    };
    encode(
        &Packet::Connect(Box::new(connect)),
        Protocol::V311,
        &mut out,
    )
    .expect("CONNECT");
    if subscribe {
        let filter = |f: String| SubscribeFilter {
            filter: f.into(),
            options: SubscriptionOptions::default(),
        };
        let subscribe = Subscribe {
            pid: mqtt::Pid::new(1).expect("1"),
            properties: Properties::default(),
            filters: vec![filter(format!("kb/{tag}/c/{n}")), filter(shared(tag))],
        };
        encode(&Packet::Subscribe(subscribe), Protocol::V311, &mut out).expect("SUBSCRIBE");
    }
    out.to_vec()
}

/// CONNACK (4 bytes), then a SUBACK with two return codes (6 bytes).
const CONNACK: usize = 4;
const SUBACK: usize = 6;

/// Connect from `source` (any when `None`), say hello, check the answer.
pub async fn open(
    broker: SocketAddr,
    source: Option<Ipv4Addr>,
    hello: &[u8],
    subscribed: bool,
) -> Result<TcpStream, String> {
    let socket = TcpSocket::new_v4().map_err(|e| e.to_string())?;
    if let Some(source) = source {
        // The port is picked at connect, for the whole 4-tuple, not at bind
        // (IP_BIND_ADDRESS_NO_PORT): binding a busy range port by port is slow.
        // SAFETY: setsockopt on the socket's own descriptor with a local int.
        unsafe {
            use std::os::fd::AsRawFd;
            let on: libc::c_int = 1;
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        socket
            .bind(SocketAddr::from((source, 0)))
            .map_err(|e| format!("bind {source}: {e}"))?;
    }
    let from = source.map_or("127.0.0.1".into(), |s| s.to_string());
    let mut stream = socket
        .connect(broker)
        .await
        .map_err(|e| format!("connect from {from}: {e}"))?;
    stream.write_all(hello).await.map_err(|e| e.to_string())?;
    let mut answer = [0u8; CONNACK + SUBACK];
    let wanted = if subscribed {
        CONNACK + SUBACK
    } else {
        CONNACK
    };
    stream
        .read_exact(&mut answer[..wanted])
        .await
        .map_err(|e| {
            format!(
                "no CONNACK{}: {e}",
                if subscribed { " and SUBACK" } else { "" }
            )
        })?;
    if answer[0] != 0x20 || answer[3] != 0 || (subscribed && answer[4] != 0x90) {
        return Err(format!("refused: {:02x?}", &answer[..wanted]));
    }
    Ok(stream)
}

/// Read `expected` bytes (one PUBLISH, or a PINGRESP) within the limit.
async fn read_exactly(stream: &mut TcpStream, expected: usize) -> bool {
    let mut buf = vec![0u8; expected];
    timeout(SWEEP_LIMIT, stream.read_exact(&mut buf))
        .await
        .is_ok_and(|r| r.is_ok())
}

/// The connections a worker holds, and what it does with them.
struct Worker {
    share: Share,
    conns: Vec<TcpStream>,
}

impl Worker {
    /// Open connections until `count` are held: `opened <held> [failure]`.
    async fn open(&mut self, count: usize) -> String {
        let share = &self.share;
        let from = self.conns.len();
        let opened: Vec<Result<TcpStream, String>> = stream::iter(from..count.max(from))
            .map(|j| async move {
                let n = share.index + j * share.stride;
                let hello = hello(&share.tag, n, share.keep_alive, true);
                timeout(
                    OPEN_LIMIT,
                    open(share.broker, Some(share.source(n)), &hello, true),
                )
                .await
                .unwrap_or_else(|_| Err(format!("no answer within {OPEN_LIMIT:?}")))
            })
            .buffer_unordered(share.concurrency.max(1))
            .collect()
            .await;
        let mut failure = None;
        for result in opened {
            match result {
                Ok(stream) => self.conns.push(stream),
                Err(err) => {
                    failure.get_or_insert(err);
                }
            }
        }
        format!(
            "opened {} {}",
            self.conns.len(),
            failure.unwrap_or_default()
        )
        .trim_end()
        .to_string()
    }

    /// Read one message of `size` bytes off every connection.
    async fn receive(&mut self, size: usize) -> String {
        let got = stream::iter(self.conns.iter_mut())
            .map(|c| read_exactly(c, size))
            .buffer_unordered(8192)
            .filter(|ok| std::future::ready(*ok))
            .count()
            .await;
        format!("received {got}")
    }

    /// PINGREQ on every connection, and count the PINGRESPs.
    async fn ping(&mut self) -> String {
        let pongs =
            stream::iter(self.conns.iter_mut())
                .map(|c| async move {
                    c.write_all(&[0xC0, 0x00]).await.is_ok() && read_exactly(c, 2).await
                })
                .buffer_unordered(8192)
                .filter(|ok| std::future::ready(*ok))
                .count()
                .await;
        format!("pongs {pongs}")
    }

    /// DISCONNECT every connection.
    async fn close(&mut self) {
        stream::iter(self.conns.drain(..))
            .for_each_concurrent(1024, |mut c| async move {
                let _ = c.write_all(&[0xE0, 0x00]).await;
            })
            .await;
    }
}

/// `kite-bench many-worker`: serve commands on stdin until `close` or the
/// end of stdin (the coordinator went away). Stdin and stdout are the pipes
/// the coordinator made.
pub async fn serve(share: Share) -> std::io::Result<()> {
    use std::os::fd::AsFd;
    crate::fd_limit::raise_fd_limit_fully();
    let mut worker = Worker {
        share,
        conns: Vec::new(),
    };
    let stdin = pipe::Receiver::from_owned_fd(std::io::stdin().as_fd().try_clone_to_owned()?)?;
    let mut lines = BufReader::new(stdin).lines();
    let mut out = pipe::Sender::from_owned_fd(std::io::stdout().as_fd().try_clone_to_owned()?)?;
    while let Some(line) = lines.next_line().await? {
        let mut words = line.split_whitespace();
        let (command, arg) = (words.next().unwrap_or(""), words.next());
        let number = arg.and_then(|a| a.parse::<usize>().ok()).unwrap_or(0);
        let answer = match command {
            "open" => worker.open(number).await,
            "receive" => worker.receive(number).await,
            "ping" => worker.ping().await,
            "close" => {
                worker.close().await;
                out.write_all(b"closed\n").await?;
                out.flush().await?;
                return Ok(());
            }
            other => format!("error unknown command {other:?}"),
        };
        out.write_all(format!("{answer}\n").as_bytes()).await?;
        out.flush().await?;
    }
    worker.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_is_a_connect_and_a_subscribe_to_two_filters() {
        let bytes = hello("t", 7, 600, true);
        let mut buf = BytesMut::from(&bytes[..]);
        let connect = mqtt::decode(&mut buf, Protocol::V311, u32::MAX).unwrap();
        assert!(matches!(connect, Some(Packet::Connect(c)) if c.client_id == "kb-t-7"));
        let subscribe = mqtt::decode(&mut buf, Protocol::V311, u32::MAX).unwrap();
        match subscribe {
            Some(Packet::Subscribe(s)) => {
                let filters: Vec<&str> = s.filters.iter().map(|f| &*f.filter).collect();
                assert_eq!(filters, ["kb/t/c/7", "kb/t/all"]);
            }
            other => panic!("{other:?}"),
        }
        assert!(buf.is_empty());
        let mut alone = BytesMut::from(&hello("t", 8, 600, false)[..]);
        assert!(matches!(
            mqtt::decode(&mut alone, Protocol::V311, u32::MAX).unwrap(),
            Some(Packet::Connect(_))
        ));
        assert!(alone.is_empty(), "no SUBSCRIBE");
    }

    #[test]
    fn shares_interleave_and_sources_change_every_per_source_connections() {
        let share = Share {
            broker: "127.0.0.1:1883".parse().unwrap(),
            index: 1,
            stride: 3,
            per_source: 5_000,
            first_source: 10,
            keep_alive: 600,
            tag: "t".into(),
            concurrency: 8,
        };
        assert_eq!(share.source(0), Ipv4Addr::new(127, 0, 0, 10));
        assert_eq!(share.source(4_999), Ipv4Addr::new(127, 0, 0, 10));
        assert_eq!(share.source(5_000), Ipv4Addr::new(127, 0, 0, 11));
        assert_eq!(share.source(10_000_000), Ipv4Addr::new(127, 0, 0, 254));
        let args = share.args();
        assert!(args.contains(&"--stride=3".to_string()));
        assert_eq!(args.len(), 8);
    }
}
