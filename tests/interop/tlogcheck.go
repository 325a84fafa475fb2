// Command tlogcheck is an interoperability checker for auditlog's C2SP
// transparency-log outputs (signed notes / checkpoints, Ed25519
// cosignatures, tlog-proof files, RFC 6962 Merkle proofs). It checks them
// with implementations we did not write: Go's golang.org/x/mod/sumdb/note
// and golang.org/x/mod/sumdb/tlog. The only code of our own here is the
// small c2sp.org/tlog-cosignature (type 0x04) signer/verifier, which x/mod
// does not provide, and the tlog-proof / checkpoint body parsers.
//
// Build (offline, Go >= 1.19, x/mod from Debian golang-golang-x-mod-dev):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=/tmp/gocache-interop \
//	    go build -o /tmp/tlogcheck tests/interop/tlogcheck.go
//
// Subcommands (every one exits 0 with a short result on stdout on success,
// and exits 1 with a message on stderr on any failure):
//
//	tlogcheck note -note FILE -key VKEY [-key VKEY ...] [-require-cosignatures N]
//	tlogcheck proof -file FILE -key VKEY [-key ...] [-require-cosignatures N]
//	tlogcheck consistency -old-size M -old-root B64 -new-size N -new-root B64 [-proof B64,B64,...]
//	tlogcheck inclusion -size N -root B64 -index I -leaf-data B64 [-proof B64,B64,...]
//	tlogcheck genkey -name NAME [-cosignature]
//	tlogcheck cosign -key SKEY -time UNIX -note FILE
//
// FILE may be "-" for standard input. See README.md in this directory.
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const (
	algEd25519     = 0x01 // signed-note Ed25519 (log signature)
	algCosignature = 0x04 // c2sp.org/tlog-cosignature v1, timestamped Ed25519

	proofHeader = "c2sp.org/tlog-proof@v1"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(1)
	}
	cmds := map[string]func([]string) error{
		"note":        cmdNote,
		"proof":       cmdProof,
		"consistency": cmdConsistency,
		"inclusion":   cmdInclusion,
		"genkey":      cmdGenkey,
		"cosign":      cmdCosign,
	}
	name := os.Args[1]
	cmd, ok := cmds[name]
	if !ok {
		if name == "-h" || name == "-help" || name == "--help" || name == "help" {
			usage()
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "tlogcheck: unknown subcommand %q\n", name)
		usage()
		os.Exit(1)
	}
	if err := cmd(os.Args[2:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "tlogcheck %s: %v\n", name, err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage:
  tlogcheck note -note FILE -key VKEY [-key VKEY ...] [-require-cosignatures N]
  tlogcheck proof -file FILE -key VKEY [-key ...] [-require-cosignatures N]
  tlogcheck consistency -old-size M -old-root B64 -new-size N -new-root B64 [-proof B64,B64,...]
  tlogcheck inclusion -size N -root B64 -index I -leaf-data B64 [-proof B64,B64,...]
  tlogcheck genkey -name NAME [-cosignature]
  tlogcheck cosign -key SKEY -time UNIX -note FILE
`)
}

// ---------------------------------------------------------------------------
// Flags.

// strFlag is a string flag that remembers its name and whether it was given
// (the empty string is a meaningful value, e.g. empty leaf data).
type strFlag struct {
	name, val string
	set       bool
}

func (o *strFlag) String() string     { return o.val }
func (o *strFlag) Set(s string) error { o.val, o.set = s, true; return nil }

// multiString is a repeatable string flag.
type multiString []string

func (m *multiString) String() string     { return strings.Join(*m, " ") }
func (m *multiString) Set(s string) error { *m = append(*m, s); return nil }

// cmdFlags is a subcommand's flag set. parse checks that the flags declared
// with need were given; after it, the value getters (int63, hash, ...) parse
// a flag's value and keep the first error, prefixed by the flag, in err.
type cmdFlags struct {
	*flag.FlagSet
	needed []*strFlag // in declaration order
	err    error
}

func newFlags(name string) *cmdFlags {
	fs := flag.NewFlagSet("tlogcheck "+name, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	return &cmdFlags{FlagSet: fs}
}

// opt declares an optional string flag.
func (f *cmdFlags) opt(name, usage string) *strFlag {
	o := &strFlag{name: name}
	f.Var(o, name, usage)
	return o
}

// need declares a required string flag.
func (f *cmdFlags) need(name, usage string) *strFlag {
	o := f.opt(name, usage)
	f.needed = append(f.needed, o)
	return o
}

// keys declares the repeatable -key and -require-cosignatures of note and proof.
func (f *cmdFlags) keys() (*multiString, *int) {
	keys := new(multiString)
	f.Var(keys, "key", "verifier `VKEY` (repeatable; type 0x01 log key or 0x04 cosignature key)")
	minCosig := f.Int("require-cosignatures", 0, "minimum number of verified cosignature keys")
	return keys, minCosig
}

func (f *cmdFlags) parse(args []string) error {
	if err := f.Parse(args); err != nil {
		return err
	}
	if f.NArg() != 0 {
		return fmt.Errorf("unexpected arguments: %q", f.Args())
	}
	for _, o := range f.needed {
		if !o.set {
			return fmt.Errorf("-%s is required", o.name)
		}
	}
	return nil
}

func (f *cmdFlags) check(o *strFlag, err error) {
	if err != nil && f.err == nil {
		f.err = fmt.Errorf("-%s: %v", o.name, err)
	}
}

func (f *cmdFlags) int63(o *strFlag) int64 {
	n, err := parseInt63(o.val)
	f.check(o, err)
	return n
}

func (f *cmdFlags) hash(o *strFlag) tlog.Hash {
	h, err := parseHash(o.val)
	f.check(o, err)
	return h
}

func (f *cmdFlags) hashList(o *strFlag) []tlog.Hash {
	hs, err := parseHashList(o.val)
	f.check(o, err)
	return hs
}

func (f *cmdFlags) b64(o *strFlag) []byte {
	b, err := decodeBase64(o.val)
	f.check(o, err)
	return b
}

// ---------------------------------------------------------------------------
// Strict parsers.

// parseDecimal parses an ASCII decimal with no sign and no leading zeroes
// (unless the value is exactly "0").
func parseDecimal(s string) (uint64, error) {
	if s == "" {
		return 0, errors.New("empty number")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("invalid decimal %q", s)
		}
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, fmt.Errorf("decimal %q has leading zeroes", s)
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("decimal %q out of range", s)
	}
	return n, nil
}

func parseInt63(s string) (int64, error) {
	n, err := parseDecimal(s)
	if err != nil {
		return 0, err
	}
	if n > math.MaxInt64 {
		return 0, fmt.Errorf("%d exceeds 2^63-1", n)
	}
	return int64(n), nil
}

// decodeBase64 decodes standard, padded base64 and insists that the input is
// the canonical encoding of its result (Go's decoder otherwise silently
// skips CR/LF and accepts non-zero padding bits).
func decodeBase64(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("invalid base64 %q: %v", s, err)
	}
	if base64.StdEncoding.EncodeToString(b) != s {
		return nil, fmt.Errorf("non-canonical base64 %q", s)
	}
	return b, nil
}

func parseHash(s string) (tlog.Hash, error) {
	b, err := decodeBase64(s)
	if err != nil {
		return tlog.Hash{}, err
	}
	if len(b) != tlog.HashSize {
		return tlog.Hash{}, fmt.Errorf("hash %q is %d bytes, want %d", s, len(b), tlog.HashSize)
	}
	var h tlog.Hash
	copy(h[:], b)
	return h, nil
}

// parseHashList parses a comma-separated list of base64 hashes; "" and "-"
// denote the empty list.
func parseHashList(s string) ([]tlog.Hash, error) {
	if s == "" || s == "-" {
		return nil, nil
	}
	var out []tlog.Hash
	for _, f := range strings.Split(s, ",") {
		h, err := parseHash(f)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

func readInput(path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(path)
}

// isValidName mirrors the (unexported) rule of x/mod/sumdb/note and
// c2sp.org/signed-note: non-empty UTF-8 without Unicode spaces or '+'.
func isValidName(name string) bool {
	return name != "" && utf8.ValidString(name) && strings.IndexFunc(name, unicode.IsSpace) < 0 && !strings.Contains(name, "+")
}

// keyID is SHA-256(name || "\n" || type || pubkey)[:4], big-endian.
func keyID(name string, alg byte, pub []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte("\n"))
	h.Write([]byte{alg})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// splitKey splits "<name>+<hex8>+<base64>" (the base64 may itself contain
// '+'); it requires the key ID to be exactly 8 lowercase hex digits.
func splitKey(s string) (name string, id uint32, data []byte, err error) {
	parts := strings.SplitN(s, "+", 3)
	if len(parts) != 3 {
		return "", 0, nil, errors.New("malformed key: want name+hex8+base64")
	}
	name, hex8, b64 := parts[0], parts[1], parts[2]
	if !isValidName(name) {
		return "", 0, nil, fmt.Errorf("malformed key: invalid name %q", name)
	}
	if len(hex8) != 8 || strings.Trim(hex8, "0123456789abcdef") != "" {
		return "", 0, nil, fmt.Errorf("malformed key: key ID %q is not 8 lowercase hex digits", hex8)
	}
	v, _ := strconv.ParseUint(hex8, 16, 32)
	data, err = decodeBase64(b64)
	if err != nil {
		return "", 0, nil, fmt.Errorf("malformed key: %v", err)
	}
	if len(data) == 0 {
		return "", 0, nil, errors.New("malformed key: empty key data")
	}
	return name, uint32(v), data, nil
}

// ---------------------------------------------------------------------------
// c2sp.org/tlog-cosignature v1 (Ed25519, type 0x04).

// cosignedMessage is the message an Ed25519 v1 cosignature signs.
func cosignedMessage(ts uint64, body []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "cosignature/v1\ntime %d\n", ts)
	b.Write(body)
	return b.Bytes()
}

type cosigVerifier struct {
	name string
	id   uint32
	pub  ed25519.PublicKey
}

func (v *cosigVerifier) Name() string    { return v.name }
func (v *cosigVerifier) KeyHash() uint32 { return v.id }

// Verify checks sig = u64be timestamp || Ed25519 signature over
// "cosignature/v1\ntime <ts>\n" || msg, where msg is the note text.
func (v *cosigVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	ts := binary.BigEndian.Uint64(sig[:8])
	if ts > math.MaxInt64 {
		return false
	}
	return ed25519.Verify(v.pub, cosignedMessage(ts, msg), sig[8:])
}

type cosigSigner struct {
	name string
	id   uint32
	priv ed25519.PrivateKey
	ts   uint64
}

func (s *cosigSigner) Name() string    { return s.name }
func (s *cosigSigner) KeyHash() uint32 { return s.id }
func (s *cosigSigner) Sign(msg []byte) ([]byte, error) {
	out := make([]byte, 8, 8+ed25519.SignatureSize)
	binary.BigEndian.PutUint64(out, s.ts)
	return append(out, ed25519.Sign(s.priv, cosignedMessage(s.ts, msg))...), nil
}

// splitCosigKey splits a type 0x04 key and returns the 32 bytes after the
// type byte (public key or seed); badLen is the error for any other length.
func splitCosigKey(s, badLen string) (name string, id uint32, key []byte, err error) {
	name, id, data, err := splitKey(s)
	if err != nil {
		return "", 0, nil, err
	}
	if data[0] != algCosignature {
		return "", 0, nil, fmt.Errorf("key type 0x%02x is not a cosignature key", data[0])
	}
	if len(data) != 1+ed25519.PublicKeySize { // = ed25519.SeedSize
		return "", 0, nil, errors.New(badLen)
	}
	return name, id, data[1:], nil
}

func newCosigVerifier(vkey string) (*cosigVerifier, error) {
	name, id, pub, err := splitCosigKey(vkey, "malformed cosignature key: public key must be 32 bytes")
	if err != nil {
		return nil, err
	}
	if keyID(name, algCosignature, pub) != id {
		return nil, fmt.Errorf("key ID %08x does not match key %s", id, vkey)
	}
	return &cosigVerifier{name: name, id: id, pub: ed25519.PublicKey(pub)}, nil
}

func newCosigSigner(skey string, ts uint64) (*cosigSigner, error) {
	rest := strings.TrimPrefix(skey, "PRIVATE+KEY+")
	if rest == skey {
		return nil, errors.New("malformed signer key: missing PRIVATE+KEY+ prefix")
	}
	name, id, seed, err := splitCosigKey(rest, "malformed cosignature signer key: seed must be 32 bytes")
	if err != nil {
		return nil, err
	}
	priv := ed25519.NewKeyFromSeed(seed)
	if keyID(name, algCosignature, priv.Public().(ed25519.PublicKey)) != id {
		return nil, fmt.Errorf("key ID %08x does not match the signer key", id)
	}
	return &cosigSigner{name: name, id: id, priv: priv, ts: ts}, nil
}

// ---------------------------------------------------------------------------
// Checkpoints.

type checkpoint struct {
	origin string
	size   uint64
	root   tlog.Hash
}

// parseCheckpointBody strictly parses a c2sp.org/tlog-checkpoint note text.
func parseCheckpointBody(text string) (*checkpoint, error) {
	if !strings.HasSuffix(text, "\n") {
		return nil, errors.New("checkpoint body does not end in newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return nil, fmt.Errorf("checkpoint body has %d lines, want at least 3", len(lines))
	}
	for i, l := range lines {
		if l == "" {
			return nil, fmt.Errorf("checkpoint body line %d is empty", i+1)
		}
	}
	size, err := parseDecimal(lines[1])
	if err != nil {
		return nil, fmt.Errorf("checkpoint size: %v", err)
	}
	root, err := parseHash(lines[2])
	if err != nil {
		return nil, fmt.Errorf("checkpoint root: %v", err)
	}
	return &checkpoint{origin: lines[0], size: size, root: root}, nil
}

// openCheckpoint verifies msg with note.Open against vkeys and applies the
// policy: at least one log (0x01) signature and at least minCosig verified
// cosignature (0x04) keys. It returns the checkpoint and the names of the
// verified signers, in note order.
func openCheckpoint(msg []byte, vkeys []string, minCosig int) (*checkpoint, []string, error) {
	if len(vkeys) == 0 {
		return nil, nil, errors.New("at least one -key is required")
	}
	if minCosig < 0 {
		return nil, nil, errors.New("-require-cosignatures must not be negative")
	}
	type nh struct {
		name string
		id   uint32
	}
	kind := map[nh]byte{}
	seen := map[string]bool{}
	var verifiers []note.Verifier
	for _, k := range vkeys {
		if seen[k] {
			continue
		}
		seen[k] = true
		_, _, data, err := splitKey(k)
		if err != nil {
			return nil, nil, fmt.Errorf("-key %q: %v", k, err)
		}
		var v note.Verifier
		switch data[0] {
		case algEd25519:
			v, err = note.NewVerifier(k)
		case algCosignature:
			v, err = newCosigVerifier(k)
		default:
			err = fmt.Errorf("unsupported key type 0x%02x", data[0])
		}
		if err != nil {
			return nil, nil, fmt.Errorf("-key %q: %v", k, err)
		}
		verifiers = append(verifiers, v)
		kind[nh{v.Name(), v.KeyHash()}] = data[0]
	}

	n, err := note.Open(msg, note.VerifierList(verifiers...))
	if err != nil {
		return nil, nil, fmt.Errorf("note.Open: %v", err)
	}
	cp, err := parseCheckpointBody(n.Text)
	if err != nil {
		return nil, nil, err
	}
	var logSigs, cosigs int
	var names []string
	for _, s := range n.Sigs {
		switch kind[nh{s.Name, s.Hash}] {
		case algEd25519:
			logSigs++
		case algCosignature:
			cosigs++
		}
		names = append(names, s.Name)
	}
	if logSigs == 0 {
		return nil, nil, errors.New("no log (0x01 Ed25519) signature verified")
	}
	if cosigs < minCosig {
		return nil, nil, fmt.Errorf("%d cosignature(s) verified, %d required", cosigs, minCosig)
	}
	return cp, names, nil
}

type tlogProof struct {
	extra    []byte
	hasExtra bool
	index    int64
	path     tlog.RecordProof
	note     []byte
}

// parseTlogProof parses a c2sp.org/tlog-proof@v1 file:
//
//	c2sp.org/tlog-proof@v1
//	[extra <base64>]
//	index <decimal>
//	<base64 hash>        (zero or more)
//	<empty line>
//	<checkpoint note, verbatim>
func parseTlogProof(data []byte) (*tlogProof, error) {
	p := &tlogProof{}
	rest := data
	nextLine := func() (string, error) {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			return "", errors.New("truncated proof (missing newline)")
		}
		l := string(rest[:i])
		rest = rest[i+1:]
		return l, nil
	}
	l, err := nextLine()
	if err != nil {
		return nil, err
	}
	if l != proofHeader {
		return nil, fmt.Errorf("first line %q, want %q", l, proofHeader)
	}
	if l, err = nextLine(); err != nil {
		return nil, err
	}
	if strings.HasPrefix(l, "extra ") {
		if p.extra, err = decodeBase64(l[len("extra "):]); err != nil {
			return nil, fmt.Errorf("extra line: %v", err)
		}
		p.hasExtra = true
		if l, err = nextLine(); err != nil {
			return nil, err
		}
	}
	if !strings.HasPrefix(l, "index ") {
		return nil, fmt.Errorf("expected index line, got %q", l)
	}
	if p.index, err = parseInt63(l[len("index "):]); err != nil {
		return nil, fmt.Errorf("index: %v", err)
	}
	for {
		if l, err = nextLine(); err != nil {
			return nil, err
		}
		if l == "" {
			break
		}
		h, err := parseHash(l)
		if err != nil {
			return nil, fmt.Errorf("inclusion proof line %d: %v", len(p.path)+1, err)
		}
		p.path = append(p.path, h)
	}
	if len(p.path) > 63 {
		return nil, fmt.Errorf("inclusion proof has %d hashes (max 63)", len(p.path))
	}
	p.note = rest
	return p, nil
}

// ---------------------------------------------------------------------------
// Subcommands.

func cmdNote(args []string) error {
	f := newFlags("note")
	path := f.need("note", "signed note `FILE` (- for stdin)")
	keys, minCosig := f.keys()
	if err := f.parse(args); err != nil {
		return err
	}
	msg, err := readInput(path.val)
	if err != nil {
		return err
	}
	cp, signers, err := openCheckpoint(msg, *keys, *minCosig)
	if err != nil {
		return err
	}
	for _, s := range signers {
		fmt.Println(s)
	}
	fmt.Printf("origin %s\nsize %d\nroot %s\n", cp.origin, cp.size, cp.root)
	return nil
}

func cmdProof(args []string) error {
	f := newFlags("proof")
	path := f.need("file", "tlog-proof `FILE` (- for stdin)")
	keys, minCosig := f.keys()
	if err := f.parse(args); err != nil {
		return err
	}
	data, err := readInput(path.val)
	if err != nil {
		return err
	}
	p, err := parseTlogProof(data)
	if err != nil {
		return fmt.Errorf("parsing tlog-proof: %v", err)
	}
	cp, _, err := openCheckpoint(p.note, *keys, *minCosig)
	if err != nil {
		return fmt.Errorf("checkpoint: %v", err)
	}
	if !p.hasExtra {
		return errors.New("proof has no extra line")
	}
	if cp.size > math.MaxInt64 {
		return fmt.Errorf("checkpoint size %d too large", cp.size)
	}
	size := int64(cp.size)
	if err := tlog.CheckRecord(p.path, size, cp.root, p.index, tlog.RecordHash(p.extra)); err != nil {
		return fmt.Errorf("inclusion of index %d in tree of size %d: %v", p.index, size, err)
	}
	fmt.Printf("index %d of %d verified\n", p.index, size)
	return nil
}

func cmdConsistency(args []string) error {
	f := newFlags("consistency")
	oldSize := f.need("old-size", "old tree size `M`")
	oldRoot := f.need("old-root", "old root hash (`B64`)")
	newSize := f.need("new-size", "new tree size `N`")
	newRoot := f.need("new-root", "new root hash (`B64`)")
	proof := f.opt("proof", "consistency proof `B64,B64,...` (empty or - for none)")
	if err := f.parse(args); err != nil {
		return err
	}
	m := f.int63(oldSize)
	oh := f.hash(oldRoot)
	n := f.int63(newSize)
	nh := f.hash(newRoot)
	p := f.hashList(proof)
	if f.err != nil {
		return f.err
	}
	if err := tlog.CheckTree(p, n, nh, m, oh); err != nil {
		return fmt.Errorf("tree %d -> %d: %v", m, n, err)
	}
	fmt.Println("consistent")
	return nil
}

func cmdInclusion(args []string) error {
	f := newFlags("inclusion")
	size := f.need("size", "tree size `N`")
	root := f.need("root", "root hash (`B64`)")
	index := f.need("index", "leaf index `I`")
	leafData := f.need("leaf-data", "leaf data (`B64`, may be empty)")
	proof := f.opt("proof", "inclusion proof `B64,B64,...` (empty or - for none)")
	if err := f.parse(args); err != nil {
		return err
	}
	t := f.int63(size)
	th := f.hash(root)
	i := f.int63(index)
	leaf := f.b64(leafData)
	p := f.hashList(proof)
	if f.err != nil {
		return f.err
	}
	if err := tlog.CheckRecord(p, t, th, i, tlog.RecordHash(leaf)); err != nil {
		return fmt.Errorf("index %d in tree of size %d: %v", i, t, err)
	}
	fmt.Printf("index %d of %d verified\n", i, t)
	return nil
}

func cmdGenkey(args []string) error {
	f := newFlags("genkey")
	name := f.need("name", "key `NAME`")
	cosig := f.Bool("cosignature", false, "generate a c2sp.org/tlog-cosignature v1 (type 0x04) key")
	if err := f.parse(args); err != nil {
		return err
	}
	n := name.val
	if !isValidName(n) {
		return fmt.Errorf("invalid key name %q", n)
	}
	var skey, vkey string
	if *cosig {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		id := keyID(n, algCosignature, pub)
		skey = fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", n, id,
			base64.StdEncoding.EncodeToString(append([]byte{algCosignature}, priv.Seed()...)))
		vkey = fmt.Sprintf("%s+%08x+%s", n, id,
			base64.StdEncoding.EncodeToString(append([]byte{algCosignature}, pub...)))
	} else {
		var err error
		skey, vkey, err = note.GenerateKey(rand.Reader, n)
		if err != nil {
			return err
		}
	}
	fmt.Println(skey)
	fmt.Println(vkey)
	return nil
}

func cmdCosign(args []string) error {
	f := newFlags("cosign")
	key := f.need("key", "cosigner key `SKEY` (PRIVATE+KEY+..., type 0x04)")
	ts := f.need("time", "cosignature timestamp (`UNIX` seconds)")
	path := f.need("note", "signed note `FILE` (- for stdin); existing signatures are kept, not verified")
	if err := f.parse(args); err != nil {
		return err
	}
	t := f.int63(ts)
	if f.err != nil {
		return f.err
	}
	signer, err := newCosigSigner(key.val, uint64(t))
	if err != nil {
		return err
	}
	msg, err := readInput(path.val)
	if err != nil {
		return err
	}
	// Open with no known keys: every signature is kept as unverified.
	_, err = note.Open(msg, note.VerifierList())
	var unv *note.UnverifiedNoteError
	if !errors.As(err, &unv) {
		return fmt.Errorf("note.Open: %v", err)
	}
	out, err := note.Sign(unv.Note, signer)
	if err != nil {
		return fmt.Errorf("note.Sign: %v", err)
	}
	_, err = os.Stdout.Write(out)
	return err
}
