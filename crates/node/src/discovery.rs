//! Node discovery for the running node: discv4 on UDP (by default the RLPx port, as geth does)
//! and optionally discv5 on its own port. Nodes that discv4 finds with a TCP port are dialled
//! while the node has room for peers; `--bootnodes` seed both the dialler and discovery.

use std::net::SocketAddr;
use std::sync::Arc;

use cachet_devp2p::net::Network;
use cachet_discovery::{
    Discv4, Discv4Config, Discv4Event, Discv4Handle, Discv5Config, Discv5Service, NodeRecord,
};
use cachet_keyprovider::NodeKey;
use cachet_primitives::{Enode, ForkId};
use tokio::sync::mpsc;

use crate::error::{Error, Result};

/// Which discovery protocols run, and where.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiscoveryConfig {
    /// discv4 UDP port (`--discovery.port`); `None` = the RLPx port.
    pub v4_port: Option<u16>,
    /// discv5 UDP port (`--discv5.port`); `None` = no discv5. It cannot share discv4's socket.
    pub v5_port: Option<u16>,
}

/// The running discovery services; dropping it stops discv5, [`Discovery::shutdown`] stops
/// discv4.
pub struct Discovery {
    v4: Discv4Handle,
    v5: Option<Discv5Service>,
}

impl std::fmt::Debug for Discovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discovery")
            .field("v4", &self.v4.local_record().to_string())
            .field("v5", &self.v5.is_some())
            .finish()
    }
}

impl Discovery {
    /// Binds discv4 (and discv5 when asked) on `listen_ip`, announcing `enode`'s TCP port and
    /// `fork_id` (at the chain head); bonds with `bootnodes`; dials what it finds through `net`
    /// when given (`cachet p2p` does not dial).
    ///
    /// # Errors
    /// [`Error::Discovery`] when a socket cannot be bound or the ENR cannot be signed.
    pub async fn start(
        node_key: NodeKey,
        config: &DiscoveryConfig,
        listen_ip: std::net::IpAddr,
        enode: Enode,
        bootnodes: &[Enode],
        fork_id: ForkId,
        net: Option<Arc<Network>>,
    ) -> Result<Self> {
        let tcp = enode.addr.port();
        let mut v4_config = Discv4Config::new(
            SocketAddr::new(listen_ip, config.v4_port.unwrap_or(tcp)),
            tcp,
        );
        v4_config.bootnodes = bootnodes.iter().copied().map(NodeRecord::from).collect();
        v4_config.fork_id = Some(fork_id);
        let v5 = match config.v5_port {
            Some(port) => Some(
                Discv5Service::spawn(
                    &node_key,
                    Discv5Config {
                        listen: SocketAddr::new(listen_ip, port),
                        external_ip: None,
                        tcp_port: tcp,
                        fork_id: Some(fork_id),
                        enr_seq: 1,
                        bootnodes: Vec::new(),
                    },
                )
                .await
                .map_err(|e| Error::Discovery {
                    protocol: "discv5",
                    source: Box::new(e),
                })?,
            ),
            None => None,
        };
        let (v4, events) =
            Discv4::spawn(node_key, v4_config)
                .await
                .map_err(|e| Error::Discovery {
                    protocol: "discv4",
                    source: Box::new(e),
                })?;
        if let Some(net) = net {
            tokio::spawn(dial_found(events, net));
        }
        Ok(Self { v4, v5 })
    }

    /// discv4's UDP port.
    pub fn v4_port(&self) -> u16 {
        self.v4.local_record().endpoint.udp
    }

    /// Our discv5 ENR (base64 `enr:` text), when discv5 runs.
    pub fn v5_enr(&self) -> Option<String> {
        self.v5.as_ref().map(|s| s.local_enr().to_base64())
    }

    /// Stops discv5 and drops its service, which holds sigp's own copy of the node key
    /// (zeroized by k256 when the service's tasks end); waits, up to 2 s, until its UDP port is
    /// released, which is when those tasks have ended. False when discv5 was not running.
    pub async fn stop_v5(&mut self) -> bool {
        let Some(mut v5) = self.v5.take() else {
            return false;
        };
        let addr = v5.local_enr().udp4_socket();
        v5.shutdown();
        drop(v5);
        if let Some(addr) = addr {
            for _ in 0..200 {
                if std::net::UdpSocket::bind(addr).is_ok() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
        true
    }

    /// Stops discv4 and discv5.
    pub async fn shutdown(self) {
        self.v4.shutdown().await;
        drop(self.v5);
    }
}

/// Dials every node discv4 adds to its table that announces a TCP port; the network itself
/// skips peers it already has or is dialling, and refuses peers beyond `--maxpeers`.
async fn dial_found(mut events: mpsc::Receiver<Discv4Event>, net: Arc<Network>) {
    while let Some(event) = events.recv().await {
        let Discv4Event::NodeAdded(node) = event else {
            continue;
        };
        if node.endpoint.tcp == 0 {
            continue;
        }
        tracing::debug!(target: "cachet::discovery", node = %node, "dialling a discovered node");
        net.dial(Enode {
            id: node.id,
            addr: SocketAddr::new(node.endpoint.ip, node.endpoint.tcp),
            discport: None,
            raftport: None,
        });
    }
}
