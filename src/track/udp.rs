//! UDP: datagrams, request/response pairs and empty datagrams.

use std::fmt::Write as _;

use super::flow::Direction;
use super::note::Note;
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
    explain: bool,
) {
    let Kind::Udp(udp) = &mut conv.kind else {
        return;
    };
    let me = direction.sender_role();
    let side = direction.sender();
    let mut note = Note::new(std::mem::take(&mut row.note), explain);
    let answering = udp.last_frame[side ^ 1].filter(|_| {
        udp.last_frame[side].is_none_or(|mine| mine < udp.last_frame[side ^ 1].unwrap_or(0))
    });
    if dgram.payload_len == 0 {
        let _ = write!(
            note,
            "zero-length datagram from the {me}: sending an empty message in UDP still sends a datagram \
             (TCP would send nothing)"
        );
    } else {
        let _ = write!(
            note,
            "datagram of {} bytes from the {me} (one sendto() = one datagram)",
            dgram.payload_len
        );
    }
    if let Some(frame) = answering {
        let _ = write!(note, "; reply to datagram #{frame}");
        udp.replies += 1;
    } else if direction == Direction::ClientToServer
        && udp.last_frame[1].is_none()
        && udp.last_frame[0].is_none()
    {
        note.push_str("; no handshake: UDP just sends");
    }
    udp.last_frame[side] = Some(packet.frame);
    row.note = note.into_string();
    conv.mark(direction, 'd');
}
