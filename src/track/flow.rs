//! Conversation keys and roles.

use std::net::SocketAddr;

/// Transport protocols that form conversations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// A conversation key that is the same in both directions: the two
/// endpoints in sorted order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowKey {
    pub proto: Proto,
    pub low: SocketAddr,
    pub high: SocketAddr,
}

impl FlowKey {
    pub fn new(proto: Proto, a: SocketAddr, b: SocketAddr) -> FlowKey {
        if a <= b {
            FlowKey {
                proto,
                low: a,
                high: b,
            }
        } else {
            FlowKey {
                proto,
                low: b,
                high: a,
            }
        }
    }
}

impl std::hash::Hash for FlowKey {
    /// An IPv4 key (nearly every key) as one 128-bit number: the derived
    /// hash fed each address's enum tag, bytes and port apart, a tenth of
    /// tracking's time. Equal keys still hash equal: the number is made
    /// from the fields alone.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match (self.low, self.high) {
            (SocketAddr::V4(low), SocketAddr::V4(high)) => state.write_u128(
                u128::from(low.ip().to_bits()) << 96
                    | u128::from(low.port()) << 80
                    | u128::from(high.ip().to_bits()) << 48
                    | u128::from(high.port()) << 32
                    | self.proto as u128,
            ),
            (low, high) => {
                self.proto.hash(state);
                low.hash(state);
                high.hash(state);
            }
        }
    }
}

/// Which way a packet travels, by role rather than by address: on loopback
/// both ends are 127.0.0.1, so only the role tells left from right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    ClientToServer,
    ServerToClient,
}

impl Direction {
    /// 0 for the client's side, 1 for the server's: index of the sender.
    pub fn sender(self) -> usize {
        match self {
            Direction::ClientToServer => 0,
            Direction::ServerToClient => 1,
        }
    }

    pub fn sender_role(self) -> &'static str {
        ["client", "server"][self.sender()]
    }

    pub fn receiver_role(self) -> &'static str {
        ["server", "client"][self.sender()]
    }

    pub fn arrow(self) -> &'static str {
        match self {
            Direction::ClientToServer => "->",
            Direction::ServerToClient => "<-",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{FlowKey, Proto};

    #[test]
    fn flow_key_is_the_same_both_ways() {
        let a = "127.0.0.1:40000".parse().unwrap();
        let b = "127.0.0.1:12333".parse().unwrap();
        assert_eq!(
            FlowKey::new(Proto::Tcp, a, b),
            FlowKey::new(Proto::Tcp, b, a)
        );
    }
}
