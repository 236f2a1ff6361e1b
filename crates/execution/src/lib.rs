//! Block execution for a Cachet node, on `revm`.
//!
//! The node hands a block's header, its decoded body and the parent's state ([`StateView`])
//! to [`Executor::execute`] and gets back the receipts, the gas used, the logs bloom and the
//! [`ChangeSet`] the state store applies (which yields the new state root).
//!
//! [`StateView`]: cachet_state::StateView
//! [`ChangeSet`]: cachet_state::ChangeSet
