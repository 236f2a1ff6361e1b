# Cachet's hive genesis mapper: hive's geth-format /genesis.json plus the HIVE_* fork and
# clique variables -> the geth-format genesis `cachet node` reads.
#
# Like hive's own client mappers, it replaces `config` from the environment; everything else
# in the input (alloc, extraData, gasLimit, timestamp, ...) is kept. Cachet seals clique; a
# genesis without HIVE_CLIQUE_PERIOD gets `"ethash": {}`, which Cachet runs as a
# non-sealing node (discovery and eth Status, no block import).
#
# Keys whose value is empty (unset variable) are dropped, so `jq` can be run with any subset
# of the variables set. HIVE_FORK_MERGE (set by the consensus simulator next to
# HIVE_TERMINAL_TOTAL_DIFFICULTY) has no genesis key in geth's mapper either: the terminal total
# difficulty defines the Merge.

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
    # hive's consensus simulator sets HIVE_FORK_DAO_VOTE=1 for every network; without a DAO
    # block the vote means nothing (as in geth), so it is kept only next to one.
    "daoForkSupport": (if (env.HIVE_FORK_DAO_BLOCK // "") != "" then env.HIVE_FORK_DAO_VOTE | to_bool else null end),
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
    "mergeNetsplitBlock": (env.HIVE_MERGE_BLOCK_ID | to_int),
    # Set by hive's consensus simulator for Paris/Shanghai test networks (0: post-Merge from
    # genesis); unset, the key is left out (geth's mapper writes its "never" default instead).
    "terminalTotalDifficulty": (env.HIVE_TERMINAL_TOTAL_DIFFICULTY | to_int),
    "terminalTotalDifficultyPassed":
      (if (env.HIVE_TERMINAL_TOTAL_DIFFICULTY // "") != "" then true else null end),
    "shanghaiTime": (env.HIVE_SHANGHAI_TIMESTAMP | to_int),
    "cancunTime": (env.HIVE_CANCUN_TIMESTAMP | to_int),
    "pragueTime": (env.HIVE_PRAGUE_TIMESTAMP | to_int),
    "osakaTime": (env.HIVE_OSAKA_TIMESTAMP | to_int)
  } | drop_empty) + (
    if (env.HIVE_CLIQUE_PERIOD // "") != "" then
      { "clique": { "period": (env.HIVE_CLIQUE_PERIOD | to_int), "epoch": 30000 } }
    else
      { "ethash": {} }
    end
  ))
}
