//! UDP: datagrams, replies and empty datagrams.

use super::event::Event;
use super::flow::Direction;
use super::history::Letter;
use super::{Conversation, Kind};
use crate::decode::{Packet, UdpDatagram};
use crate::timeline::PacketRow;

#[derive(Debug, Default)]
pub struct UdpConversation {
    /// Frame number of the last datagram each way (client 0, server 1),
    /// so a reply or an ICMP error can name the datagram it answers.
    pub last_frame: [Option<u64>; 2],
    /// Replies seen (a server datagram after a client one).
    pub replies: u64,
}

pub fn track_datagram(
    conv: &mut Conversation,
    direction: Direction,
    dgram: &UdpDatagram,
    packet: &Packet<'_>,
    row: &mut PacketRow<'_, '_>,
) {
    let Kind::Udp(udp) = &mut conv.kind else {
        return;
    };
    let side = direction.sender();
    row.events.push(Event::Datagram {
        len: dgram.payload_len,
    });
    // The client is the first sender, so only the server replies: to the
    // client's latest datagram, if it came after the server's last one.
    let reply_to = match direction {
        Direction::ServerToClient => udp.last_frame[0]
            .filter(|&client| udp.last_frame[1].is_none_or(|server| server < client)),
        Direction::ClientToServer => None,
    };
    if let Some(frame) = reply_to {
        row.events.push(Event::Reply { to_frame: frame });
        udp.replies += 1;
    } else if udp.last_frame == [None, None] {
        row.events.push(Event::NoHandshake);
    }
    udp.last_frame[side] = Some(packet.frame);
    conv.history.record(direction, Letter::Data);
}
