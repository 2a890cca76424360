//! The table of labs. Each lab is one file in `labs/`: the program a
//! student would write, then checks over calls, socket states and packet
//! events (the facts measured on Linux, LABS.md). What several labs share
//! (addresses, an echo server, UDP helpers) is in `kit.rs`. Adding a lab is
//! one file and one entry here.

mod abort;
mod backlog;
mod bind_wildcard_vs_specific;
mod client_fixed_port;
mod concurrency;
mod empty_message;
mod encoding;
mod half_close;
mod http_get;
mod ipv6_dual_stack;
mod proxy;
mod recv_buffer;
mod refused;
mod reuseaddr;
mod send_buffer;
mod tcp_echo;
mod udp_echo;
mod udp_fragments;
mod udp_no_server;
mod udp_wrong_address;

use super::{Lab, Net};

pub const LABS: &[Lab] = &[
    Lab {
        name: "tcp-echo",
        question: "What does a TCP echo exchange look like, and who ends up in TIME-WAIT?",
        seconds: 1.5,
        ports: 1,
        run: tcp_echo::tcp_echo,
        packets: tcp_echo::tcp_echo_packets,
        net: Net::Loopback,
    },
    Lab {
        name: "refused",
        question: "What happens when you connect to a port nobody listens on?",
        seconds: 1.0,
        ports: 1,
        run: refused::refused,
        packets: refused::refused_packets,
        net: Net::Loopback,
    },
    Lab {
        name: "udp-echo",
        question: "Does UDP keep message boundaries? What if the buffer is too small?",
        seconds: 1.0,
        ports: 1,
        run: udp_echo::udp_echo,
        packets: udp_echo::udp_echo_packets,
        net: Net::Loopback,
    },
    Lab {
        name: "udp-no-server",
        question: "What happens to a UDP datagram sent to a port with no socket?",
        seconds: 1.5,
        ports: 1,
        run: udp_no_server::udp_no_server,
        packets: udp_no_server::udp_no_server_packets,
        net: Net::Loopback,
    },
    Lab {
        name: "udp-wrong-address",
        question: "What if the server is bound to 127.0.0.2 and the client sends to 127.0.0.1?",
        seconds: 1.5,
        ports: 2,
        run: udp_wrong_address::udp_wrong_address,
        packets: udp_wrong_address::udp_wrong_address_packets,
        net: Net::Loopback,
    },
    Lab {
        name: "udp-fragments",
        question: "What happens to a UDP datagram larger than the link's MTU, and what does don't-fragment change?",
        seconds: 1.5,
        ports: 1,
        run: udp_fragments::udp_fragments,
        packets: udp_fragments::udp_fragments_packets,
        net: Net::Veth { mtu: 1500 },
    },
    Lab {
        name: "send-buffer",
        question: "What does send() do when the receiver does not read?",
        seconds: 1.5,
        ports: 1,
        run: send_buffer::send_buffer,
        packets: send_buffer::send_buffer_packets,
        net: Net::Loopback,
    },
    Lab {
        name: "half-close",
        question: "What does shutdown(SHUT_WR) do, and can the other side still send?",
        seconds: 1.5,
        ports: 1,
        run: half_close::half_close,
        packets: half_close::half_close_packets,
        net: Net::Loopback,
    },
    Lab {
        name: "abort",
        question: "What does close() with SO_LINGER 0 send instead of FIN?",
        seconds: 1.0,
        ports: 1,
        run: abort::abort,
        packets: abort::abort_packets,
        net: Net::Loopback,
    },
    Lab {
        name: "empty-message",
        question: "What does sending an empty message do in TCP and in UDP?",
        seconds: 1.0,
        ports: 2,
        run: empty_message::empty_message,
        packets: empty_message::empty_message_packets,
        net: Net::Loopback,
    },
    Lab {
        name: "encoding",
        question: "Do sockets carry characters or bytes?",
        seconds: 1.0,
        ports: 1,
        run: encoding::encoding,
        packets: encoding::encoding_packets,
        net: Net::Loopback,
    },
    Lab {
        name: "recv-buffer",
        question: "What does a small recv() buffer do to a UTF-8 message?",
        seconds: 1.0,
        ports: 1,
        run: recv_buffer::recv_buffer,
        packets: recv_buffer::recv_buffer_packets,
        net: Net::Loopback,
    },
    Lab {
        name: "ipv6-dual-stack",
        question: "How does an IPv6 server see an IPv4 client, and what does IPV6_V6ONLY change?",
        seconds: 1.0,
        ports: 2,
        run: ipv6_dual_stack::ipv6_dual_stack,
        packets: ipv6_dual_stack::ipv6_dual_stack_packets,
        net: Net::Loopback,
    },
    Lab {
        name: "http-get",
        question:
            "What happens when a client sends GET / HTTP/1.0 to an echo server and half-closes?",
        seconds: 1.0,
        ports: 1,
        run: http_get::http_get,
        packets: http_get::http_get_packets,
        net: Net::Loopback,
    },
    Lab {
        name: "proxy",
        question: "How many connections does a proxy make?",
        seconds: 1.0,
        ports: 2,
        run: proxy::proxy,
        packets: proxy::proxy_packets,
        net: Net::Loopback,
    },
    Lab {
        name: "client-fixed-port",
        question: "Can a client bound to a fixed port reconnect right after closing?",
        seconds: 1.0,
        ports: 2,
        run: client_fixed_port::client_fixed_port,
        packets: client_fixed_port::client_fixed_port_packets,
        net: Net::Loopback,
    },
    Lab {
        name: "reuseaddr",
        question: "Why can't a restarted server bind its port, and what does SO_REUSEADDR change?",
        seconds: 1.5,
        ports: 2,
        run: reuseaddr::reuseaddr,
        packets: reuseaddr::reuseaddr_packets,
        net: Net::Loopback,
    },
    Lab {
        name: "bind-wildcard-vs-specific",
        question: "Can 0.0.0.0:P and 127.0.0.2:P both listen?",
        seconds: 0.5,
        ports: 1,
        run: bind_wildcard_vs_specific::bind_wildcard,
        packets: bind_wildcard_vs_specific::no_packets,
        net: Net::Loopback,
    },
    Lab {
        name: "backlog",
        question: "What does the listen() backlog limit?",
        seconds: 3.5,
        ports: 1,
        run: backlog::backlog,
        packets: backlog::backlog_packets,
        net: Net::Loopback,
    },
    Lab {
        name: "concurrency",
        question: "How do single, thread, event-loop, async and forking servers serve several clients at once?",
        seconds: 3.5,
        ports: 5,
        run: concurrency::concurrency,
        packets: concurrency::concurrency_packets,
        net: Net::Loopback,
    },
];

pub fn find(name: &str) -> Option<&'static Lab> {
    LABS.iter().find(|l| l.name == name)
}
