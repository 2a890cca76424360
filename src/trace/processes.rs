//! The processes of a traced program, followed through its calls: each
//! one's name (from execve), which sockets it has open, when a recv on each
//! returned 0, and what the kernel does with them when the process ends.
//! Everything here reads [`Call`]s, never strace's text.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;

use crate::call::{Call, ChildKind, Op, Outcome, Returned, SocketKind};

/// An open socket of a process.
#[derive(Debug, Clone, Copy)]
struct Open {
    kind: Option<SocketKind>,
    local: Option<SocketAddr>,
    remote: Option<SocketAddr>,
    /// When a recv on it returned 0 (the peer's FIN, on TCP).
    eof_ns: Option<i64>,
}

#[derive(Debug, Default)]
pub struct Processes {
    /// What each process runs: "python3 server.py" (inherited at fork).
    names: HashMap<u32, String>,
    /// Each thread's process (its thread-group leader).
    leader: HashMap<u32, u32>,
    parent: HashMap<u32, u32>,
    /// Open sockets per process, by fd.
    open: HashMap<u32, BTreeMap<i32, Open>>,
}

impl Processes {
    fn leader_of(&self, pid: u32) -> u32 {
        self.leader.get(&pid).copied().unwrap_or(pid)
    }

    /// What process `pid` runs, if an execve (its own or a parent's) said.
    pub fn name(&self, pid: u32) -> Option<&str> {
        self.names
            .get(&pid)
            .or_else(|| self.names.get(&self.leader_of(pid)))
            .map(String::as_str)
    }

    /// Follow one described call; a close gets how long its socket sat in
    /// CLOSE-WAIT, when a recv had returned 0 before.
    pub fn saw(&mut self, call: &mut Call) {
        let Some(pid) = call.pid else { return };
        let leader = self.leader_of(pid);
        let ok = call.returned().cloned();
        match call.op {
            Op::Execve => {
                if let (Some(command), Some(_)) = (&call.args.command, &ok) {
                    self.names.insert(leader, command.clone());
                }
            }
            op if op.spawns() => {
                if let Some(child) = ok.and_then(|r| r.child) {
                    self.parent.insert(child.pid, pid);
                    if let Some(name) = self.name(pid).map(str::to_string) {
                        self.names.insert(child.pid, name);
                    }
                    match child.kind {
                        ChildKind::Thread => {
                            self.leader.insert(child.pid, leader);
                        }
                        // A new process gets a copy of the parent's descriptors.
                        ChildKind::Process => {
                            let copy = self.open.get(&leader).cloned().unwrap_or_default();
                            self.open.insert(child.pid, copy);
                        }
                    }
                }
            }
            Op::Socket | Op::Accept | Op::Accept4 => {
                if let Some(fd) = ok.as_ref().and_then(|r| r.fd) {
                    let (local, remote) = match call.op {
                        Op::Socket => (None, None),
                        _ => (ok.as_ref().and_then(|r| r.local), ok.and_then(|r| r.peer)),
                    };
                    let kind = match call.args.kind {
                        Some("SOCK_DGRAM") => Some(SocketKind::Udp),
                        Some(_) => Some(SocketKind::Tcp),
                        None => call.socket,
                    };
                    self.open.entry(leader).or_default().insert(
                        fd,
                        Open {
                            kind,
                            local,
                            remote,
                            eof_ns: None,
                        },
                    );
                }
            }
            Op::Close => {
                let closed = call
                    .fd
                    .and_then(|fd| self.open.get_mut(&leader)?.remove(&fd));
                if let Some(eof) = closed.and_then(|o| o.eof_ns) {
                    call.eof_since_ns = Some(crate::time::since(call.ts_ns, eof));
                }
            }
            _ => {
                let Some(fd) = call.fd else { return };
                let Some(open) = self.open.entry(leader).or_default().get_mut(&fd) else {
                    return;
                };
                // The addresses as the socket has them now (after bind,
                // connect, an implicit bind at sendto).
                if call.local.is_some() {
                    open.local = call.local;
                    open.remote = call.remote;
                }
                open.kind = open.kind.or(call.socket);
                let eof = call.op.receives()
                    && call.socket == Some(SocketKind::Tcp)
                    && ok.is_some_and(|r| r.value == Some(0));
                if eof && open.eof_ns.is_none() {
                    open.eof_ns = Some(call.ts_ns);
                }
            }
        }
    }

    /// Process `pid` ended at `ts_ns`: for each internet socket it still had
    /// open, the kernel closes it (a FIN, or a RST when data was left
    /// unread). A thread's end closes nothing.
    pub fn ended(
        &mut self,
        pid: u32,
        ts_ns: i64,
        exit_status: Option<i32>,
        signal: Option<&str>,
    ) -> Vec<Call> {
        if self.leader_of(pid) != pid {
            return Vec::new();
        }
        let Some(open) = self.open.remove(&pid) else {
            return Vec::new();
        };
        open.into_iter()
            .filter(|(_, o)| o.local.is_some())
            .map(|(fd, o)| {
                let mut call = Call::new(Op::ProcessExit).fd(fd).ends(o.local, o.remote);
                call.socket = o.kind;
                call.pid = Some(pid);
                call.ts_ns = ts_ns;
                call.args.exit_status = exit_status;
                call.args.signal = signal.map(str::to_string);
                call.outcome = Outcome::Ok(Returned::default());
                call.eof_since_ns = o.eof_ns.map(|e| crate::time::since(ts_ns, e));
                call
            })
            .collect()
    }

    /// The processes worth showing the creation of: those that made a
    /// socket call, and their ancestors.
    pub fn with_sockets(&self, calls: &[Call]) -> HashSet<u32> {
        let mut keep = HashSet::new();
        for call in calls {
            let Some(pid) = call.pid else { continue };
            if call.op.spawns() || call.op == Op::Execve {
                continue;
            }
            let mut p = Some(pid);
            while let Some(pid) = p {
                if !keep.insert(pid) {
                    break;
                }
                p = self.parent.get(&pid).copied();
            }
        }
        keep
    }
}
