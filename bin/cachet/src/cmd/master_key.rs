//! `cachet master-key new local:PATH`.

use cachet_kms::{LocalMasterKey, MasterKey as _, MasterKeySpec};
use clap::Subcommand;

use crate::exit::Failure;

/// Master-key commands.
#[derive(Debug, Subcommand)]
pub(crate) enum MasterKeyCommand {
    /// Create a new local master key file (mode 0600); refuses to overwrite an existing file.
    New {
        /// Where to create it: `local:PATH`.
        reference: String,
    },
}

pub(crate) async fn run(command: MasterKeyCommand) -> Result<(), Failure> {
    match command {
        MasterKeyCommand::New { reference } => match MasterKeySpec::parse(&reference)? {
            MasterKeySpec::Local(path) => {
                let key = LocalMasterKey::create(&path)?;
                super::emit(&key.reference().given);
                Ok(())
            }
            MasterKeySpec::AwsKms(_) => Err(Failure::usage(
                "AWS KMS keys are created in AWS (aws kms create-key); see docs/aws-kms.md",
            )),
        },
    }
}
