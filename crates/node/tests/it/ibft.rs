//! Multi-validator legacy IBFT (`GoQuorum` `istanbul`) in the node: four `Driver<Ibft>`s over the
//! in-memory hub (`bft_net.rs`, shared with the QBFT tests). Every committed block must verify
//! with `cachet_seal::ibft::verify` (proposer seal + committed seals from ⌈2N/3⌉ validators) and
//! every validator must hold the same hash at every height. Faults: one validator's sealing
//! switched off (the other three go on and sign nothing in its name), a second stopped (no
//! quorum: rounds change, nothing is committed), both restarted over their datadirs (progress
//! resumes, the one left behind catches up by importing as sync would).

use super::bft_net::{Kind, Net};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_ibft_validators_survive_one_fault_stall_at_two_and_resume() {
    let mut net = Net::of(Kind::Ibft, 4, 2, &[]);
    for i in 0..4 {
        net.start(i);
    }
    net.wait_heads(&[0, 1, 2, 3], 3).await;
    net.assert_agree(3);
    // Every frame on the hub is IBFT's single code 0x11.
    assert!(net.hub.log().iter().all(|(_, f)| f.code == 0x11));

    // Validator 3's sealing switched off: the other three go on without it.
    net.others_go_on_without(3).await;
    net.validators[3].chain = None;
    // Validator 2 stopped too: no block; both restarted: progress resumes, all agree.
    net.stall_and_resume().await;
}
