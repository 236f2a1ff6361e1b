//! The durable journal: the seal journal refuses a second digest at (height, round) after a
//! reopen, and the prepared certificate comes back.

mod common;

use alloy_primitives::{B256, U256};
use cachet_consensus::qbft::message::{Prepare, Signed};
use cachet_consensus::qbft::{
    Block, FileJournal, Journal, JournalError, PREPARED_FILE, PreparedCertificate, Signer,
};
use cachet_primitives::Header;
use cachet_seal::bft::ISTANBUL_DIGEST;
use cachet_seal::qbft as seal;
use common::TestKey;

fn block() -> Block {
    let key = TestKey::numbered(1);
    let header = Header {
        number: 3,
        beneficiary: key.address(),
        difficulty: U256::from(1),
        mix_hash: ISTANBUL_DIGEST,
        extra_data: seal::encode_extra(&seal::BftExtra {
            vanity: vec![0; 32],
            validators: vec![key.address()],
            vote: None,
            round: 0,
            committed_seals: vec![],
        })
        .into(),
        ..Header::default()
    };
    Block::new(header, &[0xc0], &[0xc0]).unwrap()
}

#[test]
fn survives_a_restart_and_refuses_a_second_digest() {
    let dir = tempfile::tempdir().unwrap();
    let b = block();
    let cert = PreparedCertificate {
        round: 2,
        block: b.clone(),
        prepares: (1..=3)
            .map(|i| {
                Signed::sign(
                    Prepare {
                        sequence: 3,
                        round: 2,
                        digest: b.digest(),
                    },
                    &TestKey::numbered(i),
                )
                .unwrap()
            })
            .collect(),
    };
    {
        let mut j = FileJournal::open(dir.path()).unwrap();
        j.record(3, 2, b.digest()).unwrap();
        j.save_prepared(3, &cert).unwrap();
        assert_eq!(j.prepared(3), Some(cert.clone()));
    }
    let mut j = FileJournal::open(dir.path()).unwrap();
    assert_eq!(j.prepared(3), Some(cert));
    assert_eq!(j.prepared(4), None);
    j.record(3, 2, b.digest()).unwrap();
    assert!(matches!(
        j.record(3, 2, B256::repeat_byte(9)),
        Err(JournalError::Equivocation {
            height: 3,
            round: 2,
            ..
        })
    ));
    j.record(3, 3, B256::repeat_byte(9)).unwrap();
    drop(j);
    // A damaged certificate file stops the node from signing rather than forgetting its lock.
    std::fs::write(dir.path().join(PREPARED_FILE), [0xc1, 0x01, 0x02]).unwrap();
    assert!(matches!(
        FileJournal::open(dir.path()),
        Err(JournalError::Storage(_))
    ));
}
