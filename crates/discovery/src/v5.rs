//! discv5 through sigp's `discv5` crate, on the same node key as discv4.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use discv5::{ConfigBuilder, Discv5, Enr, ListenConfig};
use enr::CombinedKey;

use cachet_primitives::NodeSigner;

use crate::enr::{EnrFields, ForkId, build_enr};
use crate::error::{Error, Result};

/// Settings of the discv5 service.
#[derive(Clone, Debug)]
pub struct Discv5Config {
    /// UDP address to bind.
    pub listen: SocketAddr,
    /// The IP put in the ENR; defaults to the listen IP.
    pub external_ip: Option<IpAddr>,
    /// Our `RLPx` (TCP) port for the ENR (0: none).
    pub tcp_port: u16,
    /// The `eth` fork id for the ENR.
    pub fork_id: Option<ForkId>,
    /// ENR sequence number.
    pub enr_seq: u64,
    /// Records to add to the table at start.
    pub bootnodes: Vec<Enr>,
}

/// A running sigp discv5 service whose identity is the node key.
pub struct Discv5Service {
    inner: Discv5,
}

impl Discv5Service {
    /// Starts discv5 on the current tokio runtime.
    ///
    /// # Errors
    /// [`Error::Signing`] when the keys were wiped, [`Error::Enr`] when the record cannot be
    /// built, [`Error::Discv5`] when the service does not start (port taken).
    ///
    /// # Security
    /// sigp's discv5 must own the key: the node key's bytes are copied out of Cachet's locked
    /// memory into a `CombinedKey` (k256 zeroizes it on drop); our copy is zeroized at once.
    pub async fn spawn(node_key: &dyn NodeSigner, config: Discv5Config) -> Result<Self> {
        // secret_bytes: sigp discv5 signs its handshakes itself and needs the key (the only
        // reason this method exists). `secp256k1_from_bytes` zeroizes the buffer it reads.
        let mut secret = node_key.secret_bytes().map_err(Error::Signing)?;
        let key =
            CombinedKey::secp256k1_from_bytes(&mut secret[..]).map_err(|e| Error::Enr(e.into()))?;
        drop(secret);
        let ip = config.external_ip.unwrap_or(config.listen.ip());
        let fields = EnrFields {
            seq: config.enr_seq,
            ip,
            udp: config.listen.port(),
            tcp: config.tcp_port,
            fork_id: config.fork_id,
        };
        let enr = build_enr(&key, &fields)?;
        let discv5_config = ConfigBuilder::new(ListenConfig::from_ip(
            config.listen.ip(),
            config.listen.port(),
        ))
        // sigp's default re-pings table nodes every 5 minutes; geth revalidates new nodes
        // within seconds, and hive's discv5 suite (FindnodeResults) waits a minute for that.
        .ping_interval(std::time::Duration::from_secs(10))
        .build();
        let fail = |reason: String| Error::Discv5 {
            addr: config.listen,
            reason,
        };
        let mut inner = Discv5::new(enr, key, discv5_config).map_err(|e| fail(e.to_owned()))?;
        for bootnode in config.bootnodes {
            inner.add_enr(bootnode).map_err(|e| fail(e.to_owned()))?;
        }
        inner.start().await.map_err(|e| fail(format!("{e:?}")))?;
        Ok(Self { inner })
    }

    /// Our ENR.
    pub fn local_enr(&self) -> Enr {
        self.inner.local_enr()
    }

    /// Pings `enr` and waits for the answer; returns the ENR sequence number it reports.
    ///
    /// # Errors
    /// [`Error::Timeout`] when the node does not answer.
    pub async fn ping(&self, enr: Enr) -> Result<u64> {
        let peer = enr
            .udp4_socket()
            .map(SocketAddr::V4)
            .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
        let pong = self
            .inner
            .send_ping(enr)
            .await
            .map_err(|_| Error::Timeout { peer })?;
        Ok(pong.enr_seq)
    }

    /// The underlying sigp service, for lookups, talk requests and events.
    pub fn inner(&self) -> &Discv5 {
        &self.inner
    }

    /// Stops the service.
    pub fn shutdown(&mut self) {
        self.inner.shutdown();
    }
}

impl fmt::Debug for Discv5Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Discv5Service")
            .field("enr", &self.inner.local_enr().to_base64())
            .finish()
    }
}
