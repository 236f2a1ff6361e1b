// Command qbft-vectors prints the istanbul/100 consensus messages (QBFT and legacy IBFT) exactly
// as GoQuorum encodes and signs them, as JSON test vectors for Cachet (see README.md).
//
// It links GoQuorum's own message types (consensus/istanbul/qbft/types, consensus/istanbul/ibft/types),
// its block/header code (core/types), RLP and crypto.Sign, so every byte printed is GoQuorum's.
// Only the order of calls (what a validator does in a round) is written here, following
// consensus/istanbul/{qbft,ibft}/core; each step names the function it mirrors.
package main

import (
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"math/big"
	"os"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/consensus/istanbul"
	ibfttypes "github.com/ethereum/go-ethereum/consensus/istanbul/ibft/types"
	qbfttypes "github.com/ethereum/go-ethereum/consensus/istanbul/qbft/types"
	"github.com/ethereum/go-ethereum/consensus/istanbul/validator"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"
)

// The pinned GoQuorum commit this program must be built against (go.mod replace → ./quorum).
const quorumCommit = "0d4a719f60b1ed264c4c4e124eb471e5434bfe7b"

// quorum-examples 7nodes node keys 1..4 (testdata/vectors/nodekey.json).
var nodeKeys = []string{
	"1be3b50b31734be48452c29d714941ba165ef0cbf3ccea8ca16c45e3d8d45fb0",
	"9bdd6a2e7cc1ca4a4019029df3834d2633ea6e14034d6dcc3b944396fe13a08b",
	"722f11686b2277dcbd72713d8a3c81c666b585c337d47f503c3c1f3c17cf001d",
	"6af685c4de99d44c620ccd9464d19bdeb62a750b9ae49b1740fb28d68a0e5c7d",
}

type key struct {
	hex  string
	priv *ecdsa.PrivateKey
	addr common.Address
}

func mustKey(h string) key {
	k, err := crypto.HexToECDSA(h)
	if err != nil {
		panic(err)
	}
	return key{hex: h, priv: k, addr: crypto.PubkeyToAddress(k.PublicKey)}
}

// sign mirrors backend.Sign: keccak the data, then crypto.Sign (65 bytes, v in {0,1}).
func sign(k key, data []byte) []byte {
	sig, err := crypto.Sign(crypto.Keccak256(data), k.priv)
	if err != nil {
		panic(err)
	}
	return sig
}

// signNoHash mirrors backend.SignWithoutHashing (QBFT commit seals).
func signNoHash(k key, digest []byte) []byte {
	sig, err := crypto.Sign(digest, k.priv)
	if err != nil {
		panic(err)
	}
	return sig
}

func enc(v interface{}) []byte {
	b, err := rlp.EncodeToBytes(v)
	if err != nil {
		panic(err)
	}
	return b
}

func hx(b []byte) string { return hexutil.Encode(b) }

type vector map[string]interface{}

func source(fn string) string {
	return fmt.Sprintf("produced by tests/go/qbft-vectors/main.go linking ConsenSys/quorum@%s (%s)", quorumCommit, fn)
}

func headerJSON(h *types.Header) map[string]string {
	return map[string]string{
		"parentHash": h.ParentHash.Hex(), "sha3Uncles": h.UncleHash.Hex(), "miner": h.Coinbase.Hex(),
		"stateRoot": h.Root.Hex(), "transactionsRoot": h.TxHash.Hex(), "receiptsRoot": h.ReceiptHash.Hex(),
		"logsBloom": hx(h.Bloom[:]), "difficulty": hexutil.EncodeBig(h.Difficulty), "number": hexutil.EncodeBig(h.Number),
		"gasLimit": hexutil.EncodeUint64(h.GasLimit), "gasUsed": hexutil.EncodeUint64(h.GasUsed),
		"timestamp": hexutil.EncodeUint64(h.Time), "extraData": hx(h.Extra), "mixHash": h.MixDigest.Hex(),
		"nonce": hx(h.Nonce[:]),
	}
}

// baseHeader is a height-1 header on the parent of testdata/vectors/qbft.json
// (qbft-computed-round0-novote), with an empty body; extra and coinbase are set per engine.
func baseHeader(coinbase common.Address, extra []byte) *types.Header {
	return &types.Header{
		ParentHash:  common.HexToHash("0x0eb8121ec834c72b5da6509293c647634b4fb3f6a894e184b178845b4972e008"),
		UncleHash:   types.EmptyUncleHash,
		Coinbase:    coinbase,
		Root:        common.HexToHash("0xf2557537adf7ef3ea29f0d09bd322714dafb126edb91615e8bc78ce09adbad29"),
		TxHash:      types.EmptyRootHash,
		ReceiptHash: types.EmptyRootHash,
		Difficulty:  big.NewInt(1),
		Number:      big.NewInt(1),
		GasLimit:    0x29b92700,
		GasUsed:     0,
		Time:        0x6553f100,
		Extra:       extra,
		MixDigest:   types.IstanbulDigest,
	}
}

func qbftExtra(vals []common.Address) []byte {
	// engine.Prepare: 32-byte vanity, validators, no vote (nil → 0xc0), round 0, no seals.
	return enc(&types.QBFTExtra{VanityData: make([]byte, 32), Validators: vals, Vote: nil, Round: 0, CommittedSeal: [][]byte{}})
}

// signedFields reports what a QBFT message signs and its wire bytes.
func qbftMsg(name, what string, code uint64, m qbfttypes.QBFTMessage, k key, extra vector) vector {
	payload, err := m.EncodePayloadForSigning()
	if err != nil {
		panic(err)
	}
	m.SetSignature(sign(k, payload))
	wire := enc(m)
	v := vector{
		"name":                     name,
		"what":                     what,
		"p2p_protocol":             "istanbul/100",
		"p2p_msg_code":             code,
		"p2p_payload":              hx(wire), // QBFT codes go out raw (SendWithNoEncoding), see backend.Gossip
		"signer":                   k.addr.Hex(),
		"signer_nodekey":           k.hex,
		"signing_preimage":         hx(payload),
		"signing_digest":           hx(crypto.Keccak256(payload)),
		"signature":                hx(m.Signature()),
		"sequence":                 m.View().Sequence.Uint64(),
		"round":                    m.View().Round.Uint64(),
		"dedup_hash_rlphash_bytes": istanbul.RLPHash(wire).Hex(), // backend.HandleMsg/Gossip knownMessages key
	}
	for kk, vv := range extra {
		v[kk] = vv
	}
	// Round-trip through GoQuorum's decoder: the vector is only printed if GoQuorum reads it back.
	back, err := qbfttypes.Decode(code, wire)
	if err != nil {
		panic(fmt.Sprintf("%s: GoQuorum cannot decode its own message: %v", name, err))
	}
	if hx(enc(back)) != hx(wire) {
		panic(name + ": re-encoding differs")
	}
	v["stated_in_source"] = []string{"every byte: GoQuorum's encoder, decoder (round-trip checked) and crypto.Sign"}
	return v
}

func main() {
	var keys []key
	for _, h := range nodeKeys {
		keys = append(keys, mustKey(h))
	}
	// QBFT orders validators by bytes (backend.startQBFT → ValidatorSortByByte).
	qpol := istanbul.NewRoundRobinProposerPolicy()
	qpol.Use(istanbul.ValidatorSortByByte())
	var addrs []common.Address
	for _, k := range keys {
		addrs = append(addrs, k.addr)
	}
	qset := validator.NewSet(addrs, qpol)
	var sorted []common.Address
	byAddr := map[common.Address]key{}
	for _, k := range keys {
		byAddr[k.addr] = k
	}
	for _, v := range qset.List() {
		sorted = append(sorted, v.Address())
	}
	proposer := func(lastProposer common.Address, round uint64) key {
		qset.CalcProposer(lastProposer, round)
		return byAddr[qset.GetProposer().Address()]
	}
	v0, v1, v2, v3 := byAddr[sorted[0]], byAddr[sorted[1]], byAddr[sorted[2]], byAddr[sorted[3]]
	var out []vector

	// Block A: height 1, proposed at round 0 by the round-robin proposer (no last proposer: index = round).
	pA := proposer(common.Address{}, 0)
	blockA := types.NewBlockWithHeader(baseHeader(pA.addr, qbftExtra(sorted)))
	hashA := blockA.Hash()
	commitDigestA0 := blockA.Header().QBFTHashWithRoundNumber(0)
	common0 := vector{
		"validators_byte_sorted": sorted,
		"proposal_header":        headerJSON(blockA.Header()),
		"proposal_block_rlp":     hx(enc(blockA)),
		"proposal_hash":          hashA.Hex(),
	}
	pp := qbfttypes.NewPreprepare(big.NewInt(1), big.NewInt(0), blockA)
	out = append(out, qbftMsg("qbft-preprepare-h1-r0", "PRE-PREPARE for block A at (1,0) from the round-0 proposer; no justification",
		qbfttypes.PreprepareCode, pp, pA, common0))

	pr := qbfttypes.NewPrepare(big.NewInt(1), big.NewInt(0), hashA)
	out = append(out, qbftMsg("qbft-prepare-h1-r0", "PREPARE for block A at (1,0) (core.broadcastPrepare)", qbfttypes.PrepareCode, pr, v1,
		vector{"digest": hashA.Hex()}))

	seal := signNoHash(v1, commitDigestA0.Bytes())
	cm := qbfttypes.NewCommit(big.NewInt(1), big.NewInt(0), hashA, seal)
	out = append(out, qbftMsg("qbft-commit-h1-r0", "COMMIT for block A at (1,0) carrying the commit seal (core.broadcastCommit)", qbfttypes.CommitCode, cm, v1,
		vector{"digest": hashA.Hex(), "commit_seal": hx(seal), "commit_seal_digest": commitDigestA0.Hex(),
			"commit_seal_extra": hx(types.QBFTFilteredHeaderWithRound(blockA.Header(), 0).Extra),
			"commit_seal_rule":  "SignWithoutHashing(keccak(rlp(header with extra [vanity, validators, vote, round=commit round, []])))"}))

	// Round 1: nobody prepared; every validator sends an unprepared ROUND-CHANGE for (1,1).
	var rc1 []*qbfttypes.RoundChange
	for i, k := range []key{v0, v1, v2} {
		rc := qbfttypes.NewRoundChange(big.NewInt(1), big.NewInt(1), nil, nil)
		name := fmt.Sprintf("qbft-roundchange-h1-r1-unprepared-%d", i)
		out = append(out, qbftMsg(name, "ROUND-CHANGE to (1,1) with no prepared round/block (core.broadcastRoundChange)", qbfttypes.RoundChangeCode, rc, k, nil))
		rc1 = append(rc1, rc)
	}

	// Block B: the round-1 proposer's own block (round 0 in its extra, as GoQuorum's engine.Prepare writes it).
	pB := proposer(common.Address{}, 1)
	hdrB := baseHeader(pB.addr, qbftExtra(sorted))
	hdrB.Time++
	blockB := types.NewBlockWithHeader(hdrB)
	hashB := blockB.Hash()
	ppB := qbfttypes.NewPreprepare(big.NewInt(1), big.NewInt(1), blockB)
	ppB.JustificationRoundChanges = []*qbfttypes.SignedRoundChangePayload{}
	for _, rc := range rc1 {
		ppB.JustificationRoundChanges = append(ppB.JustificationRoundChanges, &rc.SignedRoundChangePayload)
	}
	// core.sendPreprepareMsg sets JustificationPrepares = request.PrepareMessages (empty here).
	out = append(out, qbftMsg("qbft-preprepare-h1-r1-justified", "PRE-PREPARE for block B at (1,1) justified by 3 unprepared ROUND-CHANGE payloads, no prepares",
		qbfttypes.PreprepareCode, ppB, pB, vector{"proposal_header": headerJSON(blockB.Header()), "proposal_block_rlp": hx(enc(blockB)), "proposal_hash": hashB.Hex()}))

	// Block B gets a quorum of PREPAREs at round 1 (but no commit): a prepared certificate.
	var preparesB []*qbfttypes.Prepare
	for i, k := range []key{v0, v1, v2} {
		p := qbfttypes.NewPrepare(big.NewInt(1), big.NewInt(1), hashB)
		name := fmt.Sprintf("qbft-prepare-h1-r1-%d", i)
		out = append(out, qbftMsg(name, "PREPARE for block B at (1,1)", qbfttypes.PrepareCode, p, k, vector{"digest": hashB.Hex()}))
		// core.handlePrepare keeps (sequence, round, digest, signature, source).
		preparesB = append(preparesB, qbfttypes.NewPrepareWithSigAndSource(p.Sequence, p.Round, p.Digest, p.Signature(), k.addr))
	}

	// Round 2: ROUND-CHANGE carrying the prepared round 1, block B and the 3 prepares.
	var rc2 []*qbfttypes.RoundChange
	for i, k := range []key{v0, v2, v3} {
		var rc *qbfttypes.RoundChange
		if i < 2 {
			rc = qbfttypes.NewRoundChange(big.NewInt(1), big.NewInt(2), big.NewInt(1), blockB)
			rc.Justification = preparesB
		} else {
			rc = qbfttypes.NewRoundChange(big.NewInt(1), big.NewInt(2), nil, nil)
		}
		name := fmt.Sprintf("qbft-roundchange-h1-r2-%d", i)
		what := "ROUND-CHANGE to (1,2) with prepared round 1, block B and 3 PREPAREs as justification"
		if i == 2 {
			what = "ROUND-CHANGE to (1,2), unprepared (a validator that never saw B prepared)"
		}
		out = append(out, qbftMsg(name, what, qbfttypes.RoundChangeCode, rc, k, vector{"prepared_digest": rc.PreparedDigest.Hex()}))
		rc2 = append(rc2, rc)
	}
	pC := proposer(common.Address{}, 2)
	ppC := qbfttypes.NewPreprepare(big.NewInt(1), big.NewInt(2), blockB)
	ppC.JustificationRoundChanges = []*qbfttypes.SignedRoundChangePayload{}
	for _, rc := range rc2 {
		ppC.JustificationRoundChanges = append(ppC.JustificationRoundChanges, &rc.SignedRoundChangePayload)
	}
	ppC.JustificationPrepares = preparesB
	out = append(out, qbftMsg("qbft-preprepare-h1-r2-prepared", "PRE-PREPARE at (1,2) re-proposing block B (unchanged: GoQuorum re-proposes the prepared block as is) justified by 3 ROUND-CHANGE payloads (2 prepared at round 1) and the 3 round-1 PREPAREs",
		qbfttypes.PreprepareCode, ppC, pC, vector{"proposal_hash": hashB.Hex()}))

	// Commit at round 2 for block B: the commit seal covers round 2.
	cd2 := blockB.Header().QBFTHashWithRoundNumber(2)
	seal2 := signNoHash(v3, cd2.Bytes())
	cm2 := qbfttypes.NewCommit(big.NewInt(1), big.NewInt(2), hashB, seal2)
	out = append(out, qbftMsg("qbft-commit-h1-r2", "COMMIT for block B at (1,2): digest is the round-0 block hash, the seal covers round 2", qbfttypes.CommitCode, cm2, v3,
		vector{"digest": hashB.Hex(), "commit_seal": hx(seal2), "commit_seal_digest": cd2.Hex(), "commit_seal_extra": hx(types.QBFTFilteredHeaderWithRound(blockB.Header(), 2).Extra)}))

	out = append(out, besuShapes(pA, blockA, v0)...)
	out = append(out, digestWithRound(pA, sorted))

	for _, v := range out {
		if v["source"] == nil {
			v["source"] = source("consensus/istanbul/qbft/types/*.go EncodeRLP/EncodePayloadForSigning/Decode; qbft/core/{preprepare,prepare,commit,roundchange}.go; backend/backend.go Gossip; backend.Sign")
		}
	}

	ibft := ibftVectors(keys, addrs)
	props := proposerVectors(addrs)

	write := func(path string, v interface{}) {
		b, err := json.MarshalIndent(v, "", " ")
		if err != nil {
			panic(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			panic(err)
		}
	}
	dir := "out"
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		panic(err)
	}
	write(dir+"/qbft-messages.json", out)
	write(dir+"/ibft-messages.json", ibft)
	write(dir+"/proposer-selection.json", props)
	fmt.Fprintf(os.Stderr, "wrote %d QBFT, %d IBFT message vectors and %d proposer tables to %s\n", len(out), len(ibft), len(props), dir)
}

// ibftVectors: legacy IBFT messages, message{code, msg, address, signature, committedSeal} inside
// istanbulMsg 0x11 (core.finalizeMessage, backend.Gossip → SendConsensus(istanbulMsg, payload)).
func ibftVectors(keys []key, addrs []common.Address) []vector {
	// IBFT sorts validators by checksummed hex string (backend.startIBFT → ValidatorSortByString).
	pol := istanbul.NewRoundRobinProposerPolicy()
	pol.Use(istanbul.ValidatorSortByString())
	set := validator.NewSet(addrs, pol)
	byAddr := map[common.Address]key{}
	for _, k := range keys {
		byAddr[k.addr] = k
	}
	var bySortString []common.Address
	for _, v := range set.List() {
		bySortString = append(bySortString, v.Address())
	}
	set.CalcProposer(common.Address{}, 0)
	prop := byAddr[set.GetProposer().Address()]
	// The extraData list itself is byte-sorted (ibft/engine.Prepare → validator.SortedAddresses).
	byteSorted := append([]common.Address{}, addrs...)
	for i := range byteSorted {
		for j := i + 1; j < len(byteSorted); j++ {
			if string(byteSorted[j][:]) < string(byteSorted[i][:]) {
				byteSorted[i], byteSorted[j] = byteSorted[j], byteSorted[i]
			}
		}
	}
	vanity := make([]byte, 32)
	mkExtra := func(seal []byte) []byte {
		ist := &types.IstanbulExtra{Validators: byteSorted, Seal: seal, CommittedSeal: [][]byte{}}
		return append(append([]byte{}, vanity...), enc(ist)...)
	}
	hdr := baseHeader(common.Address{}, mkExtra([]byte{}))
	// ibft/engine sigHash = rlpHash(IstanbulFilteredHeader(h, false)); proposer seal = backend.Sign(sigHash) (keccak again).
	sigHash := crypto.Keccak256(enc(types.IstanbulFilteredHeader(hdr, false)))
	pseal := sign(prop, sigHash)
	hdr.Extra = mkExtra(pseal)
	block := types.NewBlockWithHeader(hdr)
	hash := block.Hash()

	var out []vector
	mk := func(name, what string, k key, code uint64, inner []byte, withSeal bool) {
		m := &ibfttypes.Message{Code: code, Msg: inner, Address: k.addr}
		extra := vector{}
		if withSeal {
			// core.PrepareCommittedSeal: hash ‖ 0x02, signed through backend.Sign (keccak first).
			pre := append(hash.Bytes(), byte(ibfttypes.MsgCommit))
			m.CommittedSeal = sign(k, pre)
			extra["committed_seal_preimage"] = hx(pre)
			extra["committed_seal_digest"] = hx(crypto.Keccak256(pre))
			extra["committed_seal"] = hx(m.CommittedSeal)
		}
		noSig, err := m.PayloadNoSig()
		if err != nil {
			panic(err)
		}
		m.Signature = sign(k, noSig)
		payload, err := m.Payload()
		if err != nil {
			panic(err)
		}
		wire := enc(payload) // p2p.Send(rw, istanbulMsg, payload) RLP-encodes the []byte
		var back ibfttypes.Message
		if err := back.FromPayload(payload, func(data, sig []byte) (common.Address, error) {
			return istanbul.GetSignatureAddress(data, sig)
		}); err != nil {
			panic(name + ": " + err.Error())
		}
		v := vector{
			"name": name, "what": what, "p2p_protocol": "istanbul/100", "p2p_msg_code": 0x11,
			"p2p_payload": hx(wire), "message_rlp": hx(payload), "inner_msg_rlp": hx(inner),
			"ibft_code": code, "signer": k.addr.Hex(), "signer_nodekey": k.hex,
			"signing_preimage_payload_no_sig": hx(noSig), "signing_digest": hx(crypto.Keccak256(noSig)),
			"signature": hx(m.Signature), "dedup_hash_rlphash_bytes": istanbul.RLPHash(payload).Hex(),
			"source":           source("consensus/istanbul/ibft/types/message.go; ibft/core/{core,preprepare,prepare,commit,roundchange}.go; types.go View/Subject/Preprepare; backend.Gossip"),
			"stated_in_source": []string{"every byte: GoQuorum's encoder, FromPayload signature check and crypto.Sign"},
		}
		for kk, vv := range extra {
			v[kk] = vv
		}
		out = append(out, v)
	}
	view0 := &istanbul.View{Round: big.NewInt(0), Sequence: big.NewInt(1)}
	ppInner := enc(&istanbul.Preprepare{View: view0, Proposal: block})
	first := len(out)
	mk("ibft-preprepare-h1-r0", "IBFT PRE-PREPARE at view {round 0, seq 1}: inner = rlp([[round, seq], block])", prop, ibfttypes.MsgPreprepare, ppInner, false)
	out[first]["validators_byte_sorted"] = byteSorted
	out[first]["validators_proposer_order_string_sorted"] = bySortString
	out[first]["proposal_header"] = headerJSON(block.Header())
	out[first]["proposal_block_rlp"] = hx(enc(block))
	out[first]["proposal_hash"] = hash.Hex()
	out[first]["proposer_seal_sighash"] = hx(sigHash)
	sub := enc(&istanbul.Subject{View: view0, Digest: hash})
	other := byAddr[bySortString[1]]
	mk("ibft-prepare-h1-r0", "IBFT PREPARE: inner = rlp([[round, seq], digest])", other, ibfttypes.MsgPrepare, sub, false)
	mk("ibft-commit-h1-r0", "IBFT COMMIT: inner = Subject, committedSeal = Sign(keccak(hash ‖ 0x02))", other, ibfttypes.MsgCommit, sub, true)
	rc := enc(&istanbul.Subject{View: &istanbul.View{Round: big.NewInt(1), Sequence: big.NewInt(1)}, Digest: common.Hash{}})
	mk("ibft-roundchange-h1-r1", "IBFT ROUND-CHANGE to round 1: inner = Subject with a zero digest (core.sendRoundChange)", other, ibfttypes.MsgRoundChange, rc, false)
	return out
}

// proposerVectors: validator.CalcProposer for both policies and both orders.
func proposerVectors(addrs []common.Address) []vector {
	// quorum's TestProposerPolicy addresses (validator/proposerpolicy_test.go).
	tp := []common.Address{
		common.HexToAddress("0xc53f2189bf6d7bf56722731787127f90d319e112"),
		common.HexToAddress("0xed2d479591fe2c5626ce09bca4ed2a62e00e5bc2"),
		common.HexToAddress("0xc8417f834995aaeb35f342a67a4961e19cd4735c"),
		common.HexToAddress("0x784ae51f5013b51c8360afdf91c6bc5a16f586ea"),
		common.HexToAddress("0xecf0974e6f0630fd91ea4da8399cdb3f59e5220f"),
		common.HexToAddress("0x411c4d11acd714b82a5242667e36de14b9e1d10b"),
	}
	nonMember := common.HexToAddress("0x9535b2e7faaba5288511d89341d94a38063a349b")
	var out []vector
	for _, set := range []struct {
		name  string
		addrs []common.Address
	}{{"7nodes-1to4", addrs}, {"quorum-TestProposerPolicy", tp}} {
		for _, sortName := range []string{"byte", "string"} {
			for _, polID := range []istanbul.ProposerPolicyId{istanbul.RoundRobin, istanbul.Sticky} {
				pol := istanbul.NewProposerPolicy(polID)
				if sortName == "byte" {
					pol.Use(istanbul.ValidatorSortByByte())
				} else {
					pol.Use(istanbul.ValidatorSortByString())
				}
				vs := validator.NewSet(set.addrs, pol)
				var order []common.Address
				for _, v := range vs.List() {
					order = append(order, v.Address())
				}
				lasts := append([]common.Address{{}}, order...)
				lasts = append(lasts, nonMember)
				var rows []vector
				for _, last := range lasts {
					var picks []common.Address
					for r := uint64(0); r < 6; r++ {
						vs.CalcProposer(last, r)
						picks = append(picks, vs.GetProposer().Address())
					}
					rows = append(rows, vector{"last_proposer": last, "proposer_by_round_0_to_5": picks})
				}
				pname := map[istanbul.ProposerPolicyId]string{istanbul.RoundRobin: "round-robin", istanbul.Sticky: "sticky"}[polID]
				out = append(out, vector{
					"name":             fmt.Sprintf("proposer-%s-%s-sort-%s", set.name, pname, sortName),
					"policy":           pname,
					"sort":             sortName,
					"validators_order": order,
					"rows":             rows,
					"note":             "last_proposer 0x0 is what backend.LastProposal returns for the genesis parent; the last row is a last proposer no longer in the set",
					"source":           source("consensus/istanbul/validator/default.go roundRobinProposer/stickyProposer/calcSeed; consensus/istanbul/validator.go ValidatorSortByByte/ValidatorSortByString"),
					"stated_in_source": []string{"orders of quorum-TestProposerPolicy are stated in validator/proposerpolicy_test.go (TestProposerPolicy); the picks are GoQuorum's own CalcProposer output"},
				})
			}
		}
	}
	return out
}

// besuShapes: the PROPOSAL and ROUND-CHANGE layouts Besu >= 26.1.0 sends by default (an extra
// block-access-list slot, 0x80 when absent: besu ProposalPayload.writeTo, RoundChange.encode),
// signed as Besu signs them (keccak(rlp([code, payload])) over the 4-item payload), and what
// GoQuorum's decoder says about them.
func besuShapes(proposer key, block *types.Block, other key) []vector {
	var out []vector
	goquorum := func(code uint64, wire []byte) string {
		if _, err := qbfttypes.Decode(code, wire); err != nil {
			return "rejected: " + err.Error()
		}
		return "accepted"
	}
	// PROPOSAL payload [seq, round, block, 0x80]; justification [[], []].
	payload := []interface{}{big.NewInt(1), big.NewInt(0), block, []byte{}}
	pre := enc([]interface{}{uint64(qbfttypes.PreprepareCode), payload})
	sig := sign(proposer, pre)
	wire := enc([]interface{}{[]interface{}{payload, sig}, []interface{}{[]interface{}{}, []interface{}{}}})
	out = append(out, vector{
		"name": "qbft-preprepare-h1-r0-besu26-bal-slot", "what": "PRE-PREPARE as Besu >= 26.1.0 sends it without --Xbft-legacy-protocol-encoding: payload [seq, round, block, 0x80]",
		"p2p_protocol": "istanbul/100", "p2p_msg_code": qbfttypes.PreprepareCode, "p2p_payload": hx(wire),
		"signer": proposer.addr.Hex(), "signer_nodekey": proposer.hex, "signing_preimage": hx(pre),
		"signing_digest": hx(crypto.Keccak256(pre)), "signature": hx(sig), "sequence": 1, "round": 0,
		"proposal_hash": block.Hash().Hex(), "goquorum_decode": goquorum(qbfttypes.PreprepareCode, wire),
		"source":           "layout from besu-eth/besu@683880baa609111e6fee47ef1122dce7a76a154b consensus/qbft-core/src/main/java/org/hyperledger/besu/consensus/qbft/core/payload/ProposalPayload.java (writeTo) and QbftPayload.hashForSignature; goquorum_decode from " + source("qbfttypes.Decode"),
		"stated_in_source": []string{"goquorum_decode: GoQuorum's decoder output"},
	})
	// ROUND-CHANGE [[[seq, round, []], sig], 0xc0, 0x80, []].
	rcp := []interface{}{big.NewInt(1), big.NewInt(1), []interface{}{}}
	pre = enc([]interface{}{uint64(qbfttypes.RoundChangeCode), rcp})
	sig = sign(other, pre)
	wire = enc([]interface{}{[]interface{}{rcp, sig}, []interface{}{}, []byte{}, []interface{}{}})
	out = append(out, vector{
		"name": "qbft-roundchange-h1-r1-besu26-bal-slot", "what": "unprepared ROUND-CHANGE as Besu >= 26.1.0 sends it without --Xbft-legacy-protocol-encoding: [signed, 0xc0, 0x80, 0xc0]",
		"p2p_protocol": "istanbul/100", "p2p_msg_code": qbfttypes.RoundChangeCode, "p2p_payload": hx(wire),
		"signer": other.addr.Hex(), "signer_nodekey": other.hex, "signing_preimage": hx(pre),
		"signing_digest": hx(crypto.Keccak256(pre)), "signature": hx(sig), "sequence": 1, "round": 1,
		"goquorum_decode":  goquorum(qbfttypes.RoundChangeCode, wire),
		"source":           "layout from besu-eth/besu@683880baa609111e6fee47ef1122dce7a76a154b consensus/qbft-core/src/main/java/org/hyperledger/besu/consensus/qbft/core/messagewrappers/RoundChange.java (encode); goquorum_decode from " + source("qbfttypes.Decode"),
		"stated_in_source": []string{"goquorum_decode: GoQuorum's decoder output"},
	})
	return out
}

// digestWithRound: a proposal block whose extraData carries round 2 (what Besu >= 24.12 proposes
// at round 2). GoQuorum's digest (Block.Hash: round forced to 0) and Besu's
// (forCommittedSeal: round as in the block, = QBFTHashWithRoundNumber(2)) differ.
func digestWithRound(proposer key, vals []common.Address) vector {
	extra := enc(&types.QBFTExtra{VanityData: make([]byte, 32), Validators: vals, Vote: nil, Round: 2, CommittedSeal: [][]byte{}})
	blk := types.NewBlockWithHeader(baseHeader(proposer.addr, extra))
	return vector{
		"name":                 "qbft-digest-round2-in-proposal-extra",
		"what":                 "the digest of a proposal block whose extraData says round 2: GoQuorum hashes it with round 0, Besu >= 24.12 with round 2 (docs/dev/bft-wire.md section 4)",
		"kind":                 "digest",
		"proposal_header":      headerJSON(blk.Header()),
		"goquorum_digest":      blk.Hash().Hex(),
		"besu_digest":          blk.Header().QBFTHashWithRoundNumber(2).Hex(),
		"round0_header_digest": blk.Header().QBFTHashWithRoundNumber(0).Hex(),
		"source":               source("core/types/block.go Header.Hash, QBFTHashWithRoundNumber; core/types/istanbul.go QBFTFilteredHeader") + "; Besu rule from hyperledger/besu@3fd224e2e49ddd68aa61755525593a0a60c65507 consensus/common/src/main/java/org/hyperledger/besu/consensus/common/bft/BftBlockHashing.java (calculateDataHashForCommittedSeal) via QbftBlockCodecAdaptor.readFrom (forCommittedSeal)",
		"stated_in_source":     []string{"goquorum_digest: GoQuorum's Block.Hash"},
	}
}
