//! A private network for a lab that needs a real link (an MTU, fragments):
//! a network namespace joined to this one by a veth pair, made with
//! iproute2 (`ip`), removed when dropped. The lab captures on the host's
//! end; its server runs on a thread that has entered the namespace.

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{bail, Context};

pub struct Veth {
    /// The namespace's name (/run/netns/NAME).
    pub ns: String,
    /// The host's end, where the capture runs.
    pub host: String,
    pub host_addr: Ipv4Addr,
    /// The address of the namespace's end.
    pub peer_addr: Ipv4Addr,
}

fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("this lab builds a private network with iproute2's ip, which is not installed")?;
    if !out.status.success() {
        bail!(
            "ip {} failed: {} (this lab builds a private network: it needs root)",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

impl Veth {
    /// A namespace and a veth pair with `mtu` on both ends, addressed
    /// 10.77.N.1 (here) and 10.77.N.2 (there).
    pub fn create(mtu: u32) -> anyhow::Result<Veth> {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let n = (std::process::id() + COUNT.fetch_add(1, Ordering::Relaxed)) % 250;
        let tag = format!("{}x{}", std::process::id() % 100_000, n);
        let veth = Veth {
            ns: format!("wirelab{tag}"),
            // Interface names are at most 15 bytes.
            host: format!("wl{tag}h"),
            host_addr: Ipv4Addr::new(10, 77, n as u8, 1),
            peer_addr: Ipv4Addr::new(10, 77, n as u8, 2),
        };
        let peer = format!("wl{tag}p");
        let mtu = mtu.to_string();
        ip(&["netns", "add", &veth.ns])?;
        // From here on, dropping `veth` removes what was made.
        ip(&[
            "link", "add", &veth.host, "mtu", &mtu, "type", "veth", "peer", "name", &peer, "mtu",
            &mtu, "netns", &veth.ns,
        ])?;
        ip(&[
            "addr",
            "add",
            &format!("{}/24", veth.host_addr),
            "dev",
            &veth.host,
        ])?;
        ip(&["link", "set", &veth.host, "up"])?;
        ip(&[
            "-n",
            &veth.ns,
            "addr",
            "add",
            &format!("{}/24", veth.peer_addr),
            "dev",
            &peer,
        ])?;
        ip(&["-n", &veth.ns, "link", "set", &peer, "up"])?;
        ip(&["-n", &veth.ns, "link", "set", "lo", "up"])?;
        Ok(veth)
    }

    /// Move the calling thread into the namespace: the sockets it makes
    /// from then on live there.
    pub fn enter(&self) -> std::io::Result<()> {
        use std::os::fd::AsFd;
        let ns = std::fs::File::open(format!("/run/netns/{}", self.ns))?;
        rustix::thread::move_into_link_name_space(
            ns.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )?;
        Ok(())
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        // Deleting one end deletes the pair; then the namespace.
        let _ = ip(&["link", "del", &self.host]);
        let _ = ip(&["netns", "del", &self.ns]);
    }
}
