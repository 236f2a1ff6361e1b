# Cachet's hive genesis mapper: hive's geth-format /genesis.json plus the HIVE_* fork and
# clique variables -> the geth-format genesis `cachet node` reads.
#
# Like hive's own client mappers, it replaces `config` from the environment; everything else
# in the input (alloc, extraData, gasLimit, timestamp, ...) is kept. Cachet seals clique; a
# genesis without HIVE_CLIQUE_PERIOD gets `"ethash": {}`, which Cachet runs as a
# non-sealing node (discovery and eth Status, no block import).
#
# Keys whose value is empty (unset variable) are dropped, so `jq` can be run with any subset
# of the variables set.

def to_int:
  if . == null or . == "" then null else tonumber end;

def to_bool:
  if . == null or . == "" then null else . == "1" end;

def drop_empty:
  with_entries(select(.value != null and .value != "" and .value != {}));

. + {
  "config": (({
    "chainId": (env.HIVE_CHAIN_ID | to_int // 1337),
    "homesteadBlock": (env.HIVE_FORK_HOMESTEAD | to_int),
    "daoForkBlock": (env.HIVE_FORK_DAO_BLOCK | to_int),
    "daoForkSupport": (env.HIVE_FORK_DAO_VOTE | to_bool),
    "eip150Block": (env.HIVE_FORK_TANGERINE | to_int),
    "eip155Block": (env.HIVE_FORK_SPURIOUS | to_int),
    "eip158Block": (env.HIVE_FORK_SPURIOUS | to_int),
    "byzantiumBlock": (env.HIVE_FORK_BYZANTIUM | to_int),
    "constantinopleBlock": (env.HIVE_FORK_CONSTANTINOPLE | to_int),
    "petersburgBlock": (env.HIVE_FORK_PETERSBURG | to_int),
    "istanbulBlock": (env.HIVE_FORK_ISTANBUL | to_int),
    "muirGlacierBlock": (env.HIVE_FORK_MUIR_GLACIER | to_int),
    "berlinBlock": (env.HIVE_FORK_BERLIN | to_int),
    "londonBlock": (env.HIVE_FORK_LONDON | to_int),
    "arrowGlacierBlock": (env.HIVE_FORK_ARROW_GLACIER | to_int),
    "grayGlacierBlock": (env.HIVE_FORK_GRAY_GLACIER | to_int),
    "shanghaiTime": (env.HIVE_SHANGHAI_TIMESTAMP | to_int),
    "cancunTime": (env.HIVE_CANCUN_TIMESTAMP | to_int),
    "pragueTime": (env.HIVE_PRAGUE_TIMESTAMP | to_int)
  } | drop_empty) + (
    if (env.HIVE_CLIQUE_PERIOD // "") != "" then
      { "clique": { "period": (env.HIVE_CLIQUE_PERIOD | to_int), "epoch": 30000 } }
    else
      { "ethash": {} }
    end
  ))
}
