//! `cachet master-key new local:PATH` / `pkcs11:URI`.

use std::path::PathBuf;

use cachet_kms::{KmsConfig, LocalMasterKey, MasterKey as _, MasterKeySpec, Pkcs11MasterKey};
use clap::Subcommand;

use crate::exit::Failure;

/// Master-key commands.
#[derive(Debug, Subcommand)]
pub(crate) enum MasterKeyCommand {
    /// Create a new master key: a local key file (mode 0600), or an AES-256 key inside a PKCS#11
    /// token (non-extractable, sensitive); refuses to overwrite or duplicate an existing one.
    New {
        /// Where to create it: `local:PATH` or `pkcs11:URI` (RFC 7512: token=…;object=…
        /// ?pin-source=file:PATH[&module-path=…]).
        reference: String,
        /// PKCS#11 module (shared library) when the URI has no module-path.
        #[arg(long, value_name = "PATH", env = "CACHET_PKCS11_MODULE")]
        pkcs11_module: Option<PathBuf>,
    },
}

pub(crate) async fn run(command: MasterKeyCommand) -> Result<(), Failure> {
    match command {
        MasterKeyCommand::New {
            reference,
            pkcs11_module,
        } => match MasterKeySpec::parse(&reference)? {
            MasterKeySpec::Local(path) => {
                let key = LocalMasterKey::create(&path)?;
                super::emit(&key.reference().given);
                Ok(())
            }
            MasterKeySpec::AwsKms(_) => Err(Failure::usage(
                "AWS KMS keys are created in AWS (aws kms create-key); see docs/aws-kms.md",
            )),
            MasterKeySpec::Pkcs11 { given, .. } => {
                let config = KmsConfig {
                    pkcs11_module,
                    ..KmsConfig::default()
                };
                let key = Pkcs11MasterKey::create(&given, &config)?;
                super::emit(&key.reference().given);
                Ok(())
            }
        },
    }
}
