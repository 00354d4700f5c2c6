// vinledger: verify a vehicle bundle in the buyer's own browser, as ledger/verify.py does,
// trusting nothing but the log's verifier key (vkey). The checks, in the Python order:
//   "checkpoint"  the checkpoint is a C2SP signed note by the log key;
//   "inclusion"   every trust and vehicle entry is in that checkpoint's RFC 9162 tree;
//   "trust"       trust entries replay from genesis (0 = operator actor, 1 = its key grant,
//                 both signed by that key and naming it as signer; later ones by an operator
//                 key valid at that index), each one the sequencer could have appended (a
//                 signed record of the entry's kind, no VIN, nothing derived, no key repeated
//                 in one object of its payload; no actor twice, no grant to an actor not yet
//                 made or of a key granted before, no revocation of a key not granted or
//                 already revoked);
//   "signature"   each vehicle entry verifies with a key granted to its signer before it and
//                 not revoked before it, whose role may sign the kind, its JSON payload
//                 repeats no key in one object, and the record names the entry's kind and
//                 VIN; its references hold (own sales; corrections, disputes, complaints,
//                 claims name an earlier entry of the VIN; a claim a sale of its signer with
//                 its policy, of the kind that policy takes, dated not before the sale and
//                 within its window around the entry's sequenced_at, on a sale no approved
//                 return undid; a decision right after its claim). A failure names the rule
//                 it breaks: "signature" (key or signature), "record" (the signed record),
//                 "role" (a kind its signer's role may not sign), "reference" (what it
//                 names), "once" (the same signed record logged twice);
//   "chain"       the VIN chain is whole (vin_seq 0, 1, 2, ...; prev = previous leaf hash).
// And, as `vinledger verify` does for the VIN a URL or --vin names:
//   "vin"         the bundle is for the VIN the page shows (a valid bundle of another car
//                 verifies just as well);
// and, on the page only, once all of that holds:
//   "page"        the timeline the server drew shows exactly the bundle's entries.
//   "verdict"     the verdict the server drew at the top links every entry the verified
//                 records say a buyer must be told of: title brands, inspections reporting
//                 damage or failing checks, insurance claims, both readings of an odometer rollback (entries
//                 a correction names, and rollbacks once a correction touched a reading, excepted),
//                 and its headline counts the problems it lists ("No problems reported" for none).
//   "logged"      each entry the timeline shows says when the ledger logged it (its <time>:
//                 the bundle's sequenced_at, and that day, in the ledger's time zone the
//                 timeline names (data-time-zone), in the page language's words this script
//                 carries), carries a late note exactly when that was more than LATE_DAYS
//                 (90) days after its date in force (corrections applied as api/pages.py
//                 does), saying how late, and a revoked-key mark exactly when a trust entry
//                 of the bundle revokes its key later, saying when and why; the notes at the
//                 top count and link those entries. Only text a reader can read counts.
// The script comes from the same server as the page: these checks catch damaged or stale
// records and a page drawn wrong, not a dishonest server, which could send another script.
// That takes `vinledger verify` with the log's key from elsewhere (README, "For buyers").
// Entry bytes are hashed exactly as served; JSON is parsed only to read fields.
// Dependency-free, WebCrypto only; the only request is the bundle URL the page names.
// (Pure ASCII on purpose: it runs right whatever charset the script is served with.)
"use strict";

(() => {
  // Mirrors KINDS_BY_ROLE in core/roles.py (tests/api/test_browser.py compares the two).
  const KINDS_BY_ROLE = {
    operator: ["actor", "key_grant", "key_revoke", "correction", "recall", "return_request",
               "warranty_claim", "claim_decision", "dispute", "complaint"],
    inspector: ["inspection", "odometer", "correction"],
    workshop: ["maintenance", "odometer", "recall", "correction"],
    insurer: ["insurance_claim", "title_brand", "odometer", "correction"],
    registry: ["title_brand", "transfer", "registration", "odometer", "recall", "correction"],
    dealer: ["sale", "odometer", "correction", "return_request", "warranty_claim"],
    referrer: [],
  };
  // core/records.py: the trust-root kinds carry no VIN; the vehicle kinds are all the others
  // (today every one of them is signable by some role, so the role table names them all).
  const PAYLOAD_TYPE = "application/vnd.vinledger.record+json"; // core/dsse.py: a native record
  const TRUST_KINDS = ["actor", "key_grant", "key_revoke"];
  // The fields of each vehicle kind (core/corrections.py _KIND_FIELDS), and what no
  // correction may change: references the ledger checked, a sale's terms, decisions.
  const CORRECTABLE = {
    inspection: ["attachments", "flags", "grade", "inspector", "items", "occurred_at", "odometer_km", "provider", "vin"],
    maintenance: ["cost", "items", "occurred_at", "odometer_km", "parts", "shop", "vin"],
    odometer: ["occurred_at", "odometer_km", "source", "vin"],
    insurance_claim: ["airbag_deployed", "areas", "cause", "claim_ref", "occurred_at", "odometer_km", "severity", "structural", "total_loss", "vin"],
    title_brand: ["brand", "jurisdiction", "note", "occurred_at", "odometer_km", "vin"],
    transfer: ["jurisdiction", "occurred_at", "odometer_km", "owner_commitment", "vin"],
    registration: ["country", "event", "first_registered", "jurisdiction", "occurred_at", "odometer_km", "vin"],
    sale: ["buyer_commitment", "dealer", "occurred_at", "odometer_km", "policies", "price", "referral_code", "vin"],
    recall: ["campaign", "component", "description", "occurred_at", "odometer_km", "status", "vin"],
    correction: ["corrects", "fields", "occurred_at", "odometer_km", "reason", "vin"],
    return_request: ["occurred_at", "odometer_km", "policy", "reason", "sale", "vin"],
    warranty_claim: ["component", "description", "occurred_at", "odometer_km", "policy", "sale", "vin"],
    claim_decision: ["approved", "claim", "days_since_sale", "km_since_sale", "occurred_at", "odometer_km", "policy", "policy_version", "reason", "sale", "vin"],
    dispute: ["disputes", "occurred_at", "odometer_km", "reason", "status", "vin"],
    complaint: ["dealer", "occurred_at", "odometer_km", "sale", "summary", "upheld", "vin"]
  };
  const FIXED_REFERENCES = { sale: ["dealer"], dispute: ["disputes", "status"], complaint: ["dealer", "sale"] };
  const SALE_TERMS = ["policies", "referral_code", "price", "occurred_at", "odometer_km"];
  const DECIDED = {
    return_request: "a claim is decided when it is logged; file a new one if it was wrong",
    warranty_claim: "a claim is decided when it is logged; file a new one if it was wrong",
    claim_decision: "it is the ledger's own decision, made by the policy from the facts",
  };
  const article = (word) => ("aeiou".includes(word[0]) ? "an" : "a");
  const TRUST_FIELDS = { actor: ["actor_id", "name", "role", "upline"], key_grant: ["actor_id", "public_key", "key_id"], key_revoke: ["key_id", "reason"] };
  const VEHICLE_KINDS = [...new Set(Object.values(KINDS_BY_ROLE).flat())].filter((k) => !TRUST_KINDS.includes(k));
  const BUNDLE_FORMAT = "vinledger-bundle/1";
  const MAX_SIZE = 2n ** 64n - 1n;
  const enc = new TextEncoder();
  const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

  class Failure extends Error {}
  const fail = (msg) => { throw new Failure(msg); };
  // A field of the entry's own record that Python's parser refuses before any reference
  // is read, and this script reads only while checking references: labelled "record".
  const failRecord = (msg) => { const f = new Failure(msg); f.check = "record"; throw f; };

  // ---- bytes and base64 ---------------------------------------------------------------
  const concat = (...parts) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
    return out;
  };
  const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  const b64encode = (bytes) => btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(""));
  // Python's base64.b64decode(text, validate=True): standard alphabet, padded, nothing else
  // (atob alone would also take missing padding and whitespace).
  function b64decode(text, what = "value") {
    if (typeof text !== "string" || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) {
      fail(`${what} is not standard base64`);
    }
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  }
  // Notes, checkpoints and key grants take only the one canonical spelling.
  function b64canonical(text, what) {
    const raw = b64decode(text, what);
    if (b64encode(raw) !== text) fail(`${what} is not canonical base64`);
    return raw;
  }
  // DSSE fields (core/dsse.py _b64decode): standard or URL-safe, padded or not, one alphabet.
  function b64dsse(text, what) {
    if (typeof text !== "string") fail(`${what} is not base64`);
    if (/[-_]/.test(text)) {
      if (/[+/]/.test(text)) fail(`${what} mixes standard and URL-safe base64`);
      text = text.replace(/-/g, "+").replace(/_/g, "/");
    }
    if (!text.includes("=")) text += "=".repeat((4 - (text.length % 4)) % 4);
    return b64decode(text, what);
  }
  const sha256 = async (bytes) => new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  async function ed25519Verify(publicRaw, signature, message) {
    const key = await crypto.subtle.importKey("raw", publicRaw, { name: "Ed25519" }, false, ["verify"]);
    return crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
  }
  function parseJSON(bytes, what) {
    try { return JSON.parse(utf8.decode(bytes)); } catch (err) { return fail(`${what} is not UTF-8 JSON: ${err.message}`); }
  }

  // A small stand-in for msgspec's typed decoding: required fields, types, no unknown fields.
  const isObj = (v) => typeof v === "object" && v !== null && !Array.isArray(v);
  const STR = (v) => typeof v === "string";
  const INT = (v) => Number.isInteger(v);
  const OBJ = isObj;
  const orNull = (t) => (v) => v === null || t(v);
  const listOf = (t) => (v) => Array.isArray(v) && v.every(t);
  const struct = (spec, optional = []) => (v) => {
    if (!isObj(v)) return false;
    for (const k of Object.keys(v)) if (!Object.hasOwn(spec, k)) throw new Failure(`unknown field ${k}`);
    return Object.entries(spec).every(([k, t]) => (Object.hasOwn(v, k) ? t(v[k]) : optional.includes(k)));
  };
  const PROVED = struct({ index: INT, entry: STR, proof: listOf(STR) });
  const BUNDLE = struct({ format: STR, vin: STR, checkpoint: STR, entries: listOf(PROVED), trust: listOf(PROVED) });
  const ENVELOPE = struct({ payload: STR, payloadType: STR, signatures: listOf(struct({ keyid: STR, sig: STR })) });
  const ENTRY = struct({ v: INT, index: INT, kind: STR, vin: orNull(STR), vin_seq: orNull(INT), prev: orNull(STR),
    sequenced_at: STR, signer: struct({ keyid: STR, actor_id: STR }), envelope: ENVELOPE, derived: OBJ }, ["derived"]);
  function decodeEntry(data) {
    const entry = parseJSON(data, "the entry");
    if (!ENTRY(entry)) fail("not a vinledger entry: a field is missing or has the wrong type");
    if (entry.v !== 1) fail(`entry format version ${entry.v} is not supported (expected 1)`);
    return entry;
  }

  // ---- RFC 9162 Merkle tree (ledger/merkle.py) ------------------------------------------
  const hashLeaf = (data) => sha256(concat(Uint8Array.of(0), data));
  const hashChildren = (l, r) => sha256(concat(Uint8Array.of(1), l, r));

  // RFC 9162 section 2.1.3.2, in BigInt: tree sizes are uint64, beyond a Number's exact range.
  async function verifyInclusion(leaf, index, size, proof, root) {
    if (!(index >= 0n && index < size)) fail(`leaf index ${index} is not in a tree of size ${size}`);
    if (leaf.length !== 32 || root.length !== 32) fail("the leaf hash and the root must be 32 bytes");
    let fn = index, sn = size - 1n, r = leaf;
    for (const [i, p] of proof.entries()) {
      if (p.length !== 32) fail(`proof hash ${i} is ${p.length} bytes; a SHA-256 hash is 32 bytes`);
      if (sn === 0n) fail("the inclusion proof is longer than the path to the root");
      if (fn % 2n === 1n || fn === sn) {
        r = await hashChildren(p, r);
        while (fn !== 0n && fn % 2n === 0n) { fn /= 2n; sn /= 2n; } // levels where fn has no sibling
      } else r = await hashChildren(r, p);
      fn /= 2n; sn /= 2n;
    }
    if (sn !== 0n) fail("the inclusion proof stops short of the root");
    if (!equal(r, root)) fail(`the proof leads to root ${hex(r)}, not the expected ${hex(root)}`);
  }

  // ---- C2SP signed note (core/note.py) and checkpoint (ledger/checkpoint.py) ---------------
  // The Unicode White_Space set core/note.py uses for key names, and its forbidden characters:
  // ASCII controls but "\n", and lone surrogates.
  const SPACES = /[\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;
  const FORBIDDEN = /[\x00-\x09\x0b-\x1f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
  const isKeyName = (name) => name.length > 0 && !name.includes("+") && !SPACES.test(name);
  const keyHash = async (name, raw) => (await sha256(concat(enc.encode(name + "\n"), Uint8Array.of(1), raw))).slice(0, 4);

  // "<name>+<hex8 key hash>+<base64(0x01 || 32-byte key)>"; the base64 may itself hold "+".
  async function parseVerifierKey(text) {
    if (typeof text !== "string") fail("the verifier key is not text");
    const m = /^([^+]*)\+([^+]*)\+([\s\S]*)$/.exec(text.trim());
    if (!m) fail("malformed verifier key: expected <name>+<hash>+<key>");
    const [, name, hashHex, keyText] = m;
    if (!/^[0-9a-fA-F]{8}$/.test(hashHex)) fail(`key hash ${hashHex} is not 8 hexadecimal digits`);
    const key = b64canonical(keyText, "the verifier key's key");
    if (!key.length) fail("the verifier key's key is empty");
    if (key[0] !== 1) fail(`the verifier key is for signature type ${key[0]}; only Ed25519 (0x01) is supported`);
    if (key.length !== 33) fail(`the verifier key's Ed25519 key is ${key.length - 1} bytes, expected 32`);
    if (!isKeyName(name) || FORBIDDEN.test(name)) fail(`key name ${name} is not valid`);
    const raw = key.slice(1);
    const khash = await keyHash(name, raw);
    if (hex(khash) !== hashHex.toLowerCase()) fail(`verifier key hash ${hashHex} does not match its name and key`);
    return { name, keyHash: khash, raw };
  }

  // The signed message is the note text: everything up to and including the newline that
  // precedes the LAST blank line ("\n\n"); the text may itself hold blank lines.
  async function openNote(msg, verifier) {
    if (typeof msg !== "string") fail("the checkpoint is not text");
    if (FORBIDDEN.test(msg)) fail("a signed note cannot contain control characters");
    const split = msg.lastIndexOf("\n\n");
    if (split < 0) fail("no blank line between the note's text and its signatures");
    const text = msg.slice(0, split + 1);
    const block = msg.slice(split + 2);
    if (!block.endsWith("\n")) fail("a signed note must end with a signature line and a newline");
    const lines = block.slice(0, -1).split("\n");
    if (lines.length > 100) fail(`the note has ${lines.length} signatures; at most 100`);
    const sigs = lines.map((line) => {
      // "\u2014 <name> base64(4-byte key hash || signature)", with U+2014 EM DASH.
      if (!line.startsWith("\u2014 ")) fail("a signature line does not start with an em dash and a space");
      const rest = line.slice(2);
      const sp = rest.indexOf(" ");
      const name = sp < 0 ? rest : rest.slice(0, sp);
      if (!isKeyName(name)) fail("a signature line has no valid key name");
      const raw = b64canonical(sp < 0 ? "" : rest.slice(sp + 1), `the signature by ${name}`);
      if (raw.length < 5) fail(`the signature by ${name} is not base64 of key hash || signature`);
      return { name, keyHash: raw.slice(0, 4), signature: raw.slice(4) };
    });
    let verified = 0;
    for (const s of sigs) {
      // Signatures by other keys are ignored; every one by the log key must verify.
      if (s.name !== verifier.name || !equal(s.keyHash, verifier.keyHash)) continue;
      if (!(await ed25519Verify(verifier.raw, s.signature, enc.encode(text)))) {
        fail(`the signature by ${s.name}+${hex(s.keyHash)} does not verify: the note was changed after it was signed`);
      }
      verified++;
    }
    if (!verified) fail(`the note is not signed by the known key ${verifier.name}+${hex(verifier.keyHash)}`);
    return text;
  }

  // "<origin>\n<decimal size>\n<base64 root>\n[<extension line>\n...]"
  function parseCheckpoint(text) {
    if (!text.endsWith("\n")) fail("a checkpoint's text must end with a newline");
    const lines = text.slice(0, -1).split("\n");
    if (lines.length < 3) fail(`a checkpoint has at least three lines; got ${lines.length}`);
    const [origin, sizeText, rootText, ...extensions] = lines;
    if (!origin) fail("the checkpoint's origin line is empty");
    if (lines.some((l) => /[\x00-\x1f\x7f-\x9f]/.test(l))) fail("a checkpoint line holds a control character");
    if (extensions.some((l) => !l)) fail("a checkpoint's extension lines must not be empty");
    if (!/^(0|[1-9][0-9]{0,19})$/.test(sizeText) || BigInt(sizeText) > MAX_SIZE) {
      fail(`the tree size ${sizeText} is not a decimal number below 2**64 without leading zeros`);
    }
    const root = b64canonical(rootText, "the root hash");
    if (root.length !== 32) fail(`the root hash is ${root.length} bytes; a SHA-256 hash is 32 bytes`);
    return { origin, size: BigInt(sizeText), root };
  }

  // ---- DSSE (core/dsse.py) and records (core/records.py) ----------------------------------
  // PAE = "DSSEv1" SP len(type) SP type SP len(body) SP body, lengths in bytes, ASCII decimal.
  function pae(type, payload) {
    const t = enc.encode(type);
    return concat(enc.encode(`DSSEv1 ${t.length} `), t, enc.encode(` ${payload.length} `), payload);
  }
  const payloadBytes = (env) => b64dsse(env.payload, "payload");

  // As dsse.verify_envelope: at least one signature carries the key's ID (hex SHA-256 of the
  // raw key), and every signature that does must verify.
  async function verifyEnvelope(env, publicRaw) {
    const kid = hex(await sha256(publicRaw));
    const claimed = env.signatures.filter((s) => s.keyid === kid);
    if (!claimed.length) fail(`the envelope has no signature with keyid ${kid}`);
    const message = pae(env.payloadType, payloadBytes(env));
    for (const s of claimed) {
      if (!(await ed25519Verify(publicRaw, b64dsse(s.sig, "sig"), message))) {
        fail(`the signature with keyid ${kid} does not verify: the payload, its payloadType or the signature was changed`);
      }
    }
  }

  // As dsse.check_signed_once: the ledger logs an envelope signed once.
  function checkSignedOnce(env) {
    const n = env.signatures.length;
    if (n !== 1) fail(`the envelope carries ${n} signatures; sign it once, with your own granted key: the ledger logs an envelope signed once`);
  }

  // As dsse.envelope_digest(env, keyid): SHA-256 of PAE, then the signer's own signatures
  // (each once, sorted bytewise) as keyid || 0x00 || sig. The ledger logs a signed record once.
  const compareBytes = (a, b) => {
    for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
    return a.length - b.length;
  };
  async function envelopeDigest(env, keyid) {
    const kid = enc.encode(keyid);
    const sigs = env.signatures.filter((s) => s.keyid === keyid).map((s) => b64dsse(s.sig, "sig"));
    const once = sigs.sort(compareBytes).filter((sig, i) => i === 0 || compareBytes(sig, sigs[i - 1]) !== 0);
    const parts = once.map((sig) => concat(kid, new Uint8Array([0]), sig));
    return hex(await sha256(concat(pae(env.payloadType, payloadBytes(env)), ...parts)));
  }

  // ---- repeated keys (core/strict_json.py duplicate_key) -------------------------------------
  const isJsonType = (type) => { // core/dsse.py is_json_type (RFC 6839)
    const essence = type.split(";", 1)[0].trim().toLowerCase();
    return essence === "application/json" || essence.endsWith("+json");
  };
  // Python's repr() of a text, as ledger/verify.py writes names with !r.
  function pyRepr(text) {
    const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
    const escaped = Array.from(text, (c) => {
      const n = c.codePointAt(0);
      if (c === quote || c === "\\") return "\\" + c;
      if (c === "\t" || c === "\n" || c === "\r") return { "\t": "\\t", "\n": "\\n", "\r": "\\r" }[c];
      const printable = n >= 0x20 && n < 0x7f ? true : n < 0xa0 ? false : !/[\p{C}\p{Z}]/u.test(c);
      if (printable) return c;
      const [prefix, width] = n < 0x100 ? ["x", 2] : n < 0x10000 ? ["u", 4] : ["U", 8];
      return "\\" + prefix + n.toString(16).padStart(width, "0");
    });
    return quote + escaped.join("") + quote;
  }
  const childPath = (path, key) => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `${path}.${key}` : `${path}[${pyRepr(key)}]`);
  // JSON.parse keeps the last copy of a repeated key silently, so this reads the text itself:
  // [JSON path, key] of the first object (in text order, as Python's depth-first walk) that
  // repeats a key, at its first repeat; null if none, or if the text is no JSON at all.
  function repeatedKey(text) {
    try { JSON.parse(text); } catch { return null; }
    // Valid JSON: strings (escapes kept whole), structure, and everything else skipped.
    const tokens = text.match(/"(?:[^"\\]|\\.)*"|[{}[\],:]/g) || [];
    const open = []; // {keys: Set | null (an array), path, at: order opened, repeated, key, n}
    let opened = 0, found = null, wantKey = false;
    for (const t of tokens) {
      const top = open[open.length - 1];
      if (t === "{" || t === "[") {
        const path = !top ? "$" : top.keys ? childPath(top.path, top.key) : `${top.path}[${top.n}]`;
        open.push({ keys: t === "{" ? new Set() : null, path, at: opened++, repeated: null, key: null, n: 0 });
        wantKey = t === "{";
      } else if (t === "}" || t === "]") {
        open.pop();
        wantKey = false;
        if (top.repeated !== null && (found === null || top.at < found.at)) found = top;
      } else if (t === ",") {
        if (top.keys) wantKey = true;
        else top.n += 1;
      } else if (wantKey) { // a key: after "{" or "," in an object
        const key = JSON.parse(t);
        if (top.keys.has(key) && top.repeated === null) top.repeated = key;
        top.keys.add(key);
        top.key = key;
        wantKey = false;
      }
    }
    return found && [childPath(found.path, found.repeated), found.repeated];
  }
  // ledger/verify_trust.py check_keys_once: a JSON payload repeats no key in one object.
  function checkKeysOnce(env) {
    if (!isJsonType(env.payloadType)) return;
    let text;
    try { text = utf8.decode(payloadBytes(env)); } catch { return; } // the record's parse fails
    const found = repeatedKey(text);
    if (found) {
      fail(`the signed payload repeats the key ${pyRepr(found[1])} in one object (${found[0]}): JSON readers disagree on which copy counts, so a verifier could read another record than the ledger did`);
    }
  }

  // entry.record_bytes: the signed payload, or, for a provider's report in its own format only,
  // the record the ledger normalised it into (derived.record), covered by the log, not the
  // partner's signature. A native record is always read from what its submitter signed.
  function entryRecord(entry) {
    const native = entry.envelope.payloadType === PAYLOAD_TYPE;
    if (!native && entry.derived && Object.hasOwn(entry.derived, "record")) return entry.derived.record;
    return parseJSON(payloadBytes(entry.envelope), "the payload");
  }

  // ISO 3779 VIN; the check digit is mandatory for North America (1-5) and China (L).
  const VIN_VALUES = "0123456789.ABCDEFGH..JKLMN.P.R..STUVWXYZ"; // index % 10 = value
  const VIN_WEIGHTS = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];
  function validateVin(vin) {
    if (typeof vin !== "string" || !/^[A-HJ-NPR-Z0-9]{17}$/.test(vin)) fail(`${JSON.stringify(vin)} is not a valid VIN`);
    const total = [...vin].reduce((n, c, i) => n + (VIN_VALUES.indexOf(c) % 10) * VIN_WEIGHTS[i], 0);
    const digit = total % 11 === 10 ? "X" : String(total % 11);
    if (vin[8] !== digit && "12345L".includes(vin[0])) fail(`VIN ${vin} has check digit ${vin[8]}, not ${digit}`);
  }

  // The checks of parse_record that decide trust: kind, VIN, UTC time, and the trust-root
  // fields. (The Python schema also checks every field of every vehicle kind; this does not.)
  async function parseRecord(rec) {
    if (!isObj(rec)) fail("invalid record: expected a JSON object");
    const { kind } = rec;
    if (!TRUST_KINDS.includes(kind) && !VEHICLE_KINDS.includes(kind)) fail(`invalid record: unknown kind ${JSON.stringify(kind)}`);
    if (!STR(rec.occurred_at) || !/^\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d(:\d\d(\.\d+)?)?([Zz]|[+-]00:?00)$/.test(rec.occurred_at)) {
      fail("invalid record: occurred_at is not an RFC 3339 time in UTC");
    }
    const actorId = (v) => STR(v) && /^[a-z0-9][a-z0-9-]{1,62}$/.test(v);
    const keyId = (v) => STR(v) && /^[0-9a-f]{64}$/.test(v);
    if (VEHICLE_KINDS.includes(kind)) {
      validateVin(rec.vin);
      const km = rec.odometer_km;
      if (km !== undefined && km !== null && !(INT(km) && km >= 0 && km <= 3_000_000)) fail("invalid record: odometer_km");
    } else {
      // A trust record holds exactly its fields (core/records.py), as Python's schema says.
      const extra = Object.keys(rec).filter((k) => !["kind", "occurred_at", ...TRUST_FIELDS[kind]].includes(k));
      if (extra.length) fail(`invalid record: unknown field ${JSON.stringify(extra[0])}`);
    }
    const text = (v, max) => STR(v) && [...v].length >= 1 && [...v].length <= max;
    if (kind === "actor") {
      if (!actorId(rec.actor_id) || !Object.hasOwn(KINDS_BY_ROLE, rec.role)) fail("invalid record: actor_id or role");
      if (!text(rec.name, 200)) fail("invalid record: name is not a text of 1 to 200 characters");
      if (rec.upline !== undefined && rec.upline !== null && !actorId(rec.upline)) fail("invalid record: upline");
    } else if (kind === "key_grant") {
      if (!actorId(rec.actor_id) || !keyId(rec.key_id)) fail("invalid record: actor_id or key_id");
      const raw = b64canonical(rec.public_key, "public_key");
      if (raw.length !== 32) fail(`public_key holds ${raw.length} bytes, not 32`);
      if (hex(await sha256(raw)) !== rec.key_id) fail("key_id is not the SHA-256 of the raw public key");
    } else if (kind === "key_revoke") {
      if (!keyId(rec.key_id)) fail("invalid record: key_id");
      if (!text(rec.reason, 500)) fail("invalid record: reason is not a text of 1 to 500 characters");
    }
    return rec;
  }

  // ---- claims (ledger/claim_rules.py check_claim_rules, as plugins/claims.py refuses them) ---------
  // Times are BigInt microseconds since 1970, compared exactly as Python's datetimes.
  const CLOCK_SKEW = 5n * 60n * 1000000n; // a claim dated at most this after its entry is logged
  const MAX_CLAIM_AGE = 72n * 3600n * 1000000n; // and at most this before
  const CLAIM_FOR_POLICY = { return: "return_request", warranty: "warranty_claim", reinspection: "warranty_claim" };
  const SEQUENCED_AT = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/; // ledger/sequencer.py format_time
  // Days between 1970-01-01 and a proleptic Gregorian date, and back (H. Hinnant's algorithms).
  function daysFromCivil(y, m, d) {
    y -= m <= 2 ? 1 : 0;
    const era = Math.floor(y / 400), yoe = y - era * 400;
    const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
    return era * 146097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy - 719468;
  }
  function civilFromDays(days) {
    const z = days + 719468, era = Math.floor(z / 146097), doe = z - era * 146097;
    const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
    const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
    const mp = Math.floor((5 * doy + 2) / 153), m = mp < 10 ? mp + 3 : mp - 9;
    return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, doy - Math.floor((153 * mp + 2) / 5) + 1];
  }
  // An RFC 3339 time in UTC as core.records.parse_time reads it: msgspec keeps microseconds,
  // rounding on the seventh digit of the fraction.
  function micros(text, what) {
    const m = STR(text) && /^(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:[Zz]|[+-]00:?00)$/.exec(text);
    const [y, mo, d, h, mi, s] = m ? m.slice(1, 7).map(Number) : [];
    const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
    const monthDays = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo - 1];
    if (!m || y < 1 || !monthDays || d < 1 || d > monthDays || h > 23 || mi > 59 || s > 59) {
      fail(`${what} ${JSON.stringify(text)} is not an RFC 3339 time in UTC`);
    }
    const frac = (m[7] || "").padEnd(7, "0");
    const us = BigInt(frac.slice(0, 6)) + (frac[6] >= "5" ? 1n : 0n);
    return BigInt(daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s) * 1000000n + us;
  }
  // As Python's isoformat() with Z: the fraction only where there is one.
  function stamp(us) {
    const secs = us / 1000000n - (us % 1000000n < 0n ? 1n : 0n), frac = Number(us - secs * 1000000n);
    const days = Math.floor(Number(secs) / 86400), rest = Number(secs) - days * 86400;
    const [y, m, d] = civilFromDays(days);
    const p = (n, width = 2) => String(n).padStart(width, "0");
    const time = `${p(Math.floor(rest / 3600))}:${p(Math.floor(rest / 60) % 60)}:${p(rest % 60)}`;
    return `${p(y, 4)}-${p(m)}-${p(d)}T${time}${frac ? "." + p(frac, 6) : ""}Z`;
  }
  // What the sequencer refuses of a claim before its policy decides, in its order: the kind its
  // policy takes, not before its sale (soldAt), within its window around the entry's
  // sequenced_at, on a sale no approved return undid (returned: that decision's entry).
  function checkClaimRules(rec, sequencedAt, policyKind, soldAt, returned) {
    const wanted = STR(policyKind) && Object.hasOwn(CLAIM_FOR_POLICY, policyKind) ? CLAIM_FOR_POLICY[policyKind] : null;
    if (wanted === null) fail(`sale ${rec.sale} states no kind (return, warranty or reinspection) for policy '${rec.policy}', so no claim may be filed under it`);
    if (rec.kind !== wanted) fail(`policy '${rec.policy}' of sale ${rec.sale} is a ${policyKind} policy; it takes a ${wanted}, not a ${rec.kind}`);
    const at = micros(rec.occurred_at, "occurred_at");
    if (at < soldAt) fail(`it is dated ${stamp(at)}, before sale ${rec.sale} (${stamp(soldAt)})`);
    if (!SEQUENCED_AT.test(sequencedAt)) fail(`its sequenced_at '${sequencedAt}' is not a time as the ledger writes it`);
    const logged = micros(sequencedAt, "sequenced_at");
    if (at - logged > CLOCK_SKEW) fail(`it is dated ${stamp(at)}, more than 5 minutes after the ledger logged it (${sequencedAt}); a claim is dated when it happened`);
    if (logged - at > MAX_CLAIM_AGE) fail(`it is dated ${stamp(at)}, more than 72 hours before the ledger logged it (${sequencedAt}); a claim is filed within 72 hours of it`);
    if (returned !== null) fail(`sale ${rec.sale} was returned (entry ${returned} approved its return); a returned sale admits no further claims`);
  }

  // ---- the bundle (ledger/verify.py) --------------------------------------------------------
  // expectedVin: the vehicle the reader asked about. A valid bundle of another vehicle
  // verifies as well as its own, so without it a swapped bundle would pass.
  async function verifyBundle(bundleBytes, vkey, expectedVin = null) {
    // logged: index -> {kind, at: its sequenced_at, revoked: the later revocation of its key
    // ({index, at, reason}) or null}, for each vehicle entry that verified.
    const report = { ok: false, vin: "", size: null, origin: null, entries: [], findings: [], records: new Map(), logged: new Map() };
    const add = (ok, check, detail, index = null) => report.findings.push({ ok, check, detail, index });
    const failures = () => report.findings.some((f) => !f.ok);
    try {
      let bundle;
      try {
        bundle = parseJSON(bundleBytes, "the bundle");
        if (!BUNDLE(bundle)) fail("a field is missing or has the wrong type");
      } catch (err) {
        add(false, "bundle", `not a vinledger bundle: ${err.message}`);
        return finish(report);
      }
      if (bundle.format !== BUNDLE_FORMAT) {
        add(false, "bundle", `bundle format ${JSON.stringify(bundle.format)} is not ${JSON.stringify(BUNDLE_FORMAT)}`);
        return finish(report);
      }
      report.vin = bundle.vin;
      if (expectedVin !== null && bundle.vin !== expectedVin) {
        add(false, "vin", `the bundle is for VIN ${bundle.vin}, not ${expectedVin}: it is another vehicle's history`);
      }

      let cp;
      try {
        const verifier = await parseVerifierKey(vkey);
        cp = parseCheckpoint(await openNote(bundle.checkpoint, verifier));
        // The key names the log it signs for (ledger/signing.py): a checkpoint of another
        // log, signed with the same key, is not this log's.
        if (cp.origin !== verifier.name) fail(`the checkpoint is for log ${pyRepr(cp.origin)}, but the key is ${pyRepr(verifier.name)}'s`);
      } catch (err) {
        add(false, "checkpoint", `checkpoint signature does not verify: ${err.message}`);
        return finish(report);
      }
      report.size = Number(cp.size);
      report.origin = cp.origin;
      add(true, "checkpoint", `signed by the log key, size ${cp.size}`);

      // Inclusion: [{index, leaf, entry}] of the items whose proofs check, sorted by index.
      const included = async (items, what) => {
        const out = [];
        for (const item of items) {
          try {
            const data = b64decode(item.entry, "the entry");
            const proof = item.proof.map((h) => b64decode(h, "a proof hash"));
            const leaf = await hashLeaf(data); // the exact bytes served, never re-encoded
            await verifyInclusion(leaf, BigInt(item.index), cp.size, proof, cp.root);
            const entry = decodeEntry(data);
            if (entry.index !== item.index) {
              add(false, "inclusion", `entry ${item.index} says its index is ${entry.index}`, item.index);
              continue;
            }
            out.push({ index: item.index, leaf, entry });
          } catch (err) {
            add(false, "inclusion", `entry ${item.index}: ${err.message}`, item.index);
          }
        }
        if (out.length) add(true, "inclusion", `${out.length} ${what} entries included in the checkpoint's tree`);
        return out.sort((a, b) => a.index - b.index);
      };
      const trust = await included(bundle.trust, "trust");
      const vehicle = await included(bundle.entries, "vehicle");
      report.entries = vehicle.map((v) => v.index);

      // Trust replay. keys: keyid -> {actor, raw, granted, revoked}; roles: actor id -> role;
      // revocations: keyid -> {index, at: when it was logged, reason}.
      const keys = new Map(), roles = new Map(), revocations = new Map();
      // Actors and keys as the entry leaves them; refuses what the sequencer refuses.
      const apply = (rec, index) => {
        if (rec.kind === "actor") {
          if (roles.has(rec.actor_id)) fail(`actor '${rec.actor_id}' already exists`);
          roles.set(rec.actor_id, rec.role);
          return;
        }
        const short = rec.key_id.slice(0, 16);
        if (rec.kind === "key_grant") {
          if (!roles.has(rec.actor_id)) fail(`actor '${rec.actor_id}' does not exist before this grant`);
          if (keys.has(rec.key_id)) fail(`key ${short}\u2026 was already granted at entry ${keys.get(rec.key_id).granted}`);
          keys.set(rec.key_id, { actor: rec.actor_id, raw: b64decode(rec.public_key), granted: index, revoked: null });
          return;
        }
        const key = keys.get(rec.key_id);
        if (!key) fail(`key ${short}\u2026 was not granted before this revocation`);
        if (key.revoked !== null) fail(`key ${short}\u2026 was already revoked at entry ${key.revoked}`);
        key.revoked = index;
      };
      const validKey = (entry, index) => {
        const key = keys.get(entry.signer.keyid);
        const short = entry.signer.keyid.slice(0, 16);
        if (!key || key.granted >= index) fail(`key ${short}\u2026 was not granted before entry ${index}`);
        if (key.revoked !== null && key.revoked < index) fail(`key ${short}\u2026 was revoked at entry ${key.revoked}`);
        if (key.actor !== entry.signer.actor_id) fail(`key belongs to ${key.actor}, entry claims ${entry.signer.actor_id}`);
        return key;
      };
      // The record the operator signed in a trust entry, if the entry is one the sequencer writes.
      const trustRecord = async (entry) => {
        if (!TRUST_KINDS.includes(entry.kind)) fail(`'${entry.kind}' is not a trust kind (actor, key_grant, key_revoke)`);
        if (entry.vin !== null || entry.vin_seq !== null || entry.prev !== null) fail("a trust entry carries no VIN and no chain position");
        if (Object.hasOwn(entry, "derived")) fail("a trust entry carries nothing derived from its record");
        checkSignedOnce(entry.envelope);
        checkKeysOnce(entry.envelope);
        const rec = await parseRecord(parseJSON(payloadBytes(entry.envelope), "the payload"));
        if (rec.kind !== entry.kind) fail("the signed record's kind differs from the entry's");
        return rec;
      };
      const byIndex = new Map(trust.map((t) => [t.index, t.entry]));
      // Entry 0 makes the operator, entry 1 grants it a key; both name that key as signer.
      const genesis = async (entry) => {
        const record = (i) => trustRecord(byIndex.get(i)).catch(() => null);
        const operator = await record(0), grant = await record(1);
        if (!operator || operator.kind !== "actor" || operator.role !== "operator") fail("entry 0 does not create the operator");
        if (!grant || grant.kind !== "key_grant") fail("entry 1 is not the operator's key grant");
        if (grant.actor_id !== operator.actor_id) fail("entry 1 grants a key to another actor than entry 0 created");
        const { keyid, actor_id: actorId } = entry.signer;
        if (keyid !== grant.key_id || actorId !== operator.actor_id) {
          fail(`the entry names signer '${actorId}' with key ${keyid.slice(0, 16)}\u2026, not entry 0's operator with the key entry 1 grants`);
        }
        await verifyEnvelope(entry.envelope, b64decode(grant.public_key));
      };
      if (!byIndex.has(0) || !byIndex.has(1)) {
        add(false, "trust", "the bundle lacks the genesis entries 0 and 1");
      } else {
        for (const { index, entry } of trust) {
          try {
            const rec = await trustRecord(entry);
            if (index === 0 || index === 1) await genesis(entry);
            else {
              const key = validKey(entry, index);
              if (roles.get(key.actor) !== "operator") fail(`signed by ${key.actor}, who is not an operator`);
              await verifyEnvelope(entry.envelope, key.raw);
            }
            apply(rec, index);
            if (rec.kind === "key_revoke") revocations.set(rec.key_id, { index, at: entry.sequenced_at, reason: rec.reason });
          } catch (err) {
            add(false, "trust", `entry ${index} (${entry.kind}): ${err.message}`, index);
          }
        }
        // As in Python: passes only if nothing has failed so far (inclusion included).
        if (!failures()) add(true, "trust", `${keys.size} keys and ${roles.size} actors replayed from genesis`);
      }

      // core/corrections.py check_correction_fields, knowing only the corrected entry's
      // kind: which fields a correction may name. (Python also checks each value against
      // the kind's schema; this does not.)
      const checkCorrectionFields = (fields, kind) => {
        if (kind === "correction") fail("a correction cannot be corrected: submit another correction of the entry it corrects (the later one wins, field by field)");
        if (!Object.hasOwn(CORRECTABLE, kind)) fail(`an entry of kind ${pyRepr(String(kind))} cannot be corrected; only vehicle records can`);
        if (Object.hasOwn(DECIDED, kind)) fail(`${article(kind).replace(/^a/, "A")} ${kind} cannot be corrected: ${DECIDED[kind]}`);
        if (!isObj(fields)) failRecord("invalid record: fields");
        const aKind = `${article(kind)} ${kind}`;
        const fixed = ["kind", "vin", ...(FIXED_REFERENCES[kind] || [])];
        for (const name of Object.keys(fields).sort()) {
          if (fixed.includes(name)) fail(`a correction may not change \`${name}\` of ${aKind}: the ledger checked it when it appended the entry; submit a new record instead`);
          if (kind === "sale" && SALE_TERMS.includes(name)) {
            fail(`a correction may not change \`${name}\` of a sale: its terms, the days and km its claims are judged by and its commissions were worked out from it when it was logged. If the sale was recorded wrongly, the operator files a dispute of it and the dealer records the sale again`);
          }
          if (!CORRECTABLE[kind].includes(name)) {
            const may = CORRECTABLE[kind].filter((f) => !fixed.includes(f)).sort().join(", ");
            fail(`${aKind} has no field \`${name}\`; check its spelling (a correction of ${aKind} may change: ${may})`);
          }
        }
      };

      // What the sequencer checks of a record's references (ledger/verify_refs.py
      // check_references): a dealer's own sales; a correction (by the corrected entry's
      // signer or the operator), a dispute, a complaint name an earlier entry of this VIN.
      const vehicleAt = new Map(vehicle.map((v) => [v.index, v.entry]));
      const CLAIMS = ["return_request", "warranty_claim"];
      const earlierEntry = (ref, index, vin, field) => {
        if (!INT(ref) || ref < 0) failRecord(`invalid record: ${field} is not an entry index`);
        const earlier = vehicleAt.get(ref);
        if (earlier === undefined || ref >= index || earlier.vin !== vin) fail(`it names entry ${ref}, which is no earlier entry of this VIN`);
        return earlier;
      };
      // The decision before entry `before` that approved a return of `sale`, if one did.
      const returnedAt = async (sale, before) => {
        for (const [i, e] of vehicleAt) {
          if (i >= before || e.kind !== "claim_decision") continue;
          let d;
          try { d = await parseRecord(entryRecord(e)); } catch { continue; } // that entry's own failure
          const claim = vehicleAt.get(d.claim);
          if (d.sale === sale && d.approved === true && claim !== undefined && claim.kind === "return_request") return i;
        }
        return null;
      };
      const checkReferences = async (rec, index, signer, role) => {
        if (rec.kind === "sale" && role !== "operator" && rec.dealer !== signer) {
          fail(`the sale names dealer '${rec.dealer}' but '${signer}' signed it`);
        }
        if (rec.kind === "correction") {
          const earlier = earlierEntry(rec.corrects, index, rec.vin, "corrects");
          if (role !== "operator" && earlier.signer.actor_id !== signer) {
            fail(`it corrects entry ${rec.corrects}, signed by '${earlier.signer.actor_id}'; only that signer or the operator may correct it`);
          }
          checkCorrectionFields(rec.fields, earlier.kind);
        } else if (rec.kind === "dispute") {
          earlierEntry(rec.disputes, index, rec.vin, "disputes");
        } else if (rec.kind === "complaint" && rec.sale !== null && rec.sale !== undefined) {
          const earlier = earlierEntry(rec.sale, index, rec.vin, "sale");
          if (earlier.kind !== "sale" || earlier.signer.actor_id !== rec.dealer) fail(`entry ${rec.sale} is not a sale by '${rec.dealer}'`);
        } else if (CLAIMS.includes(rec.kind)) {
          if (!STR(rec.policy)) failRecord("invalid record: policy is not a text");
          const sale = earlierEntry(rec.sale, index, rec.vin, "sale");
          if (sale.kind !== "sale") fail(`entry ${rec.sale} is not a sale`);
          if (role !== "operator" && sale.signer.actor_id !== signer) {
            fail(`sale ${rec.sale} was recorded by '${sale.signer.actor_id}'; a dealer files claims only on its own sales`);
          }
          const terms = isObj(sale.derived) && Array.isArray(sale.derived.terms) ? sale.derived.terms : [];
          const stated = terms.find((t) => isObj(t) && t.policy === rec.policy);
          if (stated === undefined) fail(`sale ${rec.sale} carries no policy '${rec.policy}'`);
          const sold = await parseRecord(entryRecord(sale));
          const soldAt = micros(sold.occurred_at, "the sale's occurred_at");
          checkClaimRules(rec, vehicleAt.get(index).sequenced_at, stated.kind, soldAt, await returnedAt(rec.sale, index));
          const next = vehicleAt.get(index + 1);
          if (next === undefined || next.kind !== "claim_decision") fail(`the ledger appends a decision right after every claim; entry ${index + 1} is not one`);
        } else if (rec.kind === "claim_decision") {
          if (!INT(rec.claim) || !INT(rec.sale) || !STR(rec.policy)) failRecord("invalid record: claim, sale or policy");
          const claim = vehicleAt.get(rec.claim);
          if (rec.claim !== index - 1 || claim === undefined || !CLAIMS.includes(claim.kind)) {
            fail(`it decides entry ${rec.claim}, but a decision comes right after its claim`);
          }
          const decided = await parseRecord(entryRecord(claim));
          if (decided.sale !== rec.sale || decided.policy !== rec.policy) {
            fail(`it names sale ${rec.sale} and policy '${rec.policy}'; the claim it decides names sale ${decided.sale} and policy '${decided.policy}'`);
          }
        }
      };

      // Vehicle entries: key valid at the index, signature, record matches, role may sign it.
      for (const { index, entry } of vehicle) {
        let check = "signature"; // a failure is labelled by the rule it breaks (as in Python)
        try {
          checkSignedOnce(entry.envelope);
          const key = validKey(entry, index);
          await verifyEnvelope(entry.envelope, key.raw);
          check = "record";
          checkKeysOnce(entry.envelope);
          const rec = await parseRecord(entryRecord(entry));
          const recVin = VEHICLE_KINDS.includes(rec.kind) ? rec.vin : null;
          if (rec.kind !== entry.kind || recVin !== entry.vin) fail("the signed record's kind or VIN differs from the entry's");
          check = "role";
          const role = roles.get(key.actor) || "";
          if (!(KINDS_BY_ROLE[role] || []).includes(rec.kind)) fail(`${role ? (/^[aeiou]/.test(role) ? "an " : "a ") + role : "an unknown actor"} may not sign '${rec.kind}'`);
          check = "reference";
          await checkReferences(rec, index, key.actor, role);
          report.records.set(index, rec);
          // validKey refused a key revoked before the entry: a revocation here came later.
          const revoked = key.revoked === null ? null : revocations.get(entry.signer.keyid) || null;
          report.logged.set(index, { kind: entry.kind, at: entry.sequenced_at, revoked });
          add(true, "signature", `entry ${index} (${entry.kind}) signed by ${key.actor}`, index);
        } catch (err) {
          add(false, err.check || check, `entry ${index} (${entry.kind}): ${err.message}`, index);
        }
      }

      // Each signed record once (ledger/verify.py _check_logged_once).
      const firstOf = new Map();
      for (const { index, entry } of [...trust, ...vehicle].sort((a, b) => a.index - b.index)) {
        let same;
        try {
          same = await envelopeDigest(entry.envelope, entry.signer.keyid);
        } catch {
          continue; // its signature check names the payload's fault
        }
        if (firstOf.has(same)) {
          add(false, "once", `entry ${index} (${entry.kind}): the same signed record as entry ${firstOf.get(same)}; the ledger logs a record once`, index);
        } else firstOf.set(same, index);
      }

      // The VIN chain, in vin_seq order (a stable sort, as Python's sorted()). A gap
      // where a bundle entry failed its inclusion proof is that entry's failure, already
      // reported: the entries after it are not blamed for it (as in Python).
      const proven = new Set(vehicle.map((v) => v.index));
      const unproven = bundle.entries.map((item) => item.index).filter((i) => !proven.has(i));
      let prevLeaf = null, prevIndex = -1, expected = 0, broken = false, gaps = false;
      const chain = [...vehicle].sort((a, b) => (a.entry.vin_seq ?? 0) - (b.entry.vin_seq ?? 0));
      chain.forEach(({ index, leaf, entry }) => {
        let problem = null;
        const gap = unproven.some((u) => prevIndex < u && u < index);
        const seq = entry.vin_seq;
        if (entry.vin !== bundle.vin) problem = `is about VIN ${entry.vin}, not ${bundle.vin}`;
        else if (gap && Number.isInteger(seq) && seq > expected) gaps = true;
        else if (seq !== expected) problem = `has chain position ${seq}, expected ${expected}: an entry is missing`;
        else if (entry.prev !== (prevLeaf === null ? null : b64encode(prevLeaf))) problem = "does not link to the previous entry of this VIN (prev mismatch)";
        else if (index <= prevIndex) problem = "comes before the entry it follows";
        if (problem) { add(false, "chain", `entry ${index} ${problem}`, index); broken = true; }
        if (gap && !problem && Number.isInteger(seq)) expected = seq;
        prevLeaf = leaf;
        prevIndex = index;
        expected += 1;
      });
      if (!chain.length) add(false, "chain", `the bundle holds no verified entries for ${bundle.vin}`);
      else if (!broken && !gaps) add(true, "chain", `${chain.length} entries form one unbroken chain for ${bundle.vin}`);
    } catch (err) {
      add(false, "bundle", `verification stopped: ${err && err.message ? err.message : String(err)}`);
    }
    return finish(report);
  }

  function finish(report) {
    report.ok = report.findings.length > 0 && report.findings.every((f) => f.ok);
    return report;
  }

  // The server drew the page; only the bundle is proved. The cheap binding of the two:
  // the timeline shows exactly the entries the bundle proves, none left out, none added.
  function checkShown(report, shown) {
    const proved = new Set(report.entries);
    const numbers = (list) => `${list.length === 1 ? "entry" : "entries"} ${list.sort((a, b) => a - b).join(", ")}`;
    const hidden = report.entries.filter((i) => !shown.has(i));
    const added = [...shown].filter((i) => !proved.has(i));
    const problems = [];
    // Entries newer than all the page shows may have arrived after it was drawn.
    report.newer = hidden.length > 0 && !added.length && Math.min(...hidden) > Math.max(-1, ...shown);
    if (report.newer) problems.push(`the page leaves out ${numbers(hidden)} of the bundle, newer than every entry it shows: reload the page`);
    else if (hidden.length) problems.push(`the page leaves out ${numbers(hidden)} of the bundle`);
    if (added.length) problems.push(`the page shows ${numbers(added)}, which the bundle does not hold`);
    if (problems.length) report.findings.push({ ok: false, check: "page", detail: problems.join("; "), index: null });
    else report.findings.push({ ok: true, check: "page", detail: `the page shows the ${shown.size} entries the bundle proves`, index: null });
    return finish(report);
  }

  // What the verdict at the top must name, from the verified records alone (core/history.py
  // raises an alert for each): a title brand, an inspection's damage flag, an insurance
  // claim, the two readings of an odometer rollback, an inspection's checklist item with a
  // major defect or a fail. Only what holds whatever else the history says: a correction
  // that clears an inspection's flag or failed item raises finding_withdrawn, which names
  // the inspection (core/correction_alerts.py), so every flag and failure signed is named
  // either way; rollbacks once a correction changed a reading or its time are left to the
  // server (it raises odometer_corrected or odometer_redated instead).
  // [{index, names: [indexes the verdict must link], why}]
  const DAMAGE_FLAGS = ["accident", "flood", "fire", "structural", "airbag"];
  const FAILED_RESULTS = ["major", "fail"]; // core/inspection_alerts.py: inspection_failed
  const NOT_READINGS = ["correction", "claim_decision", "dispute", "complaint"]; // core/odometer.py
  const ROLLBACK_TOLERANCE_KM = 50; // core/odometer.py
  function mustName(records, logged) {
    const corrections = [...records.values()].filter((r) => r.kind === "correction" && isObj(r.fields));
    const names = (c, field) => Object.hasOwn(c.fields, field);
    const isReading = (rec) => rec !== undefined && rec.odometer_km !== null && rec.odometer_km !== undefined && !NOT_READINGS.includes(rec.kind);
    const out = [];
    const readings = [];
    for (const [index, rec] of records) {
      if (isReading(rec)) {
        let at = null;
        try { at = micros(rec.occurred_at, "occurred_at"); } catch { /* a time of an older log: no rollback check */ }
        readings.push({ index, km: rec.odometer_km, at });
      }
      // No correction changes a kind: every brand and every claim raises an alert.
      if (rec.kind === "title_brand") out.push({ index, names: [index], why: `a title brand (${String(rec.brand).replace(/_/g, " ")})` });
      else if (rec.kind === "insurance_claim") out.push({ index, names: [index], why: `an insurance claim (${rec.cause || "collision"}, ${rec.severity || "minor"})` });
      else if (rec.kind === "inspection") {
        const flags = DAMAGE_FLAGS.filter((f) => isObj(rec.flags) && rec.flags[f] === true);
        const failed = Array.isArray(rec.items) ? rec.items.filter((i) => isObj(i) && STR(i.code) && FAILED_RESULTS.includes(i.result)) : [];
        const why = [];
        if (flags.length) why.push(`reporting ${flags.join(", ")} damage`);
        if (failed.length) why.push(`failing ${[...new Set(failed.map((i) => `${i.code} (${i.result})`))].join(", ")}`);
        if (why.length) out.push({ index, names: [index], why: `an inspection ${why.join(" and ")}` });
      }
    }
    // A correction that changes a reading or its time, or gives an entry a reading, changes
    // what Python compares; one of another field, or of an entry with no reading, does not.
    const retimed = corrections.some((c) => (names(c, "odometer_km") || names(c, "occurred_at")) &&
      (isReading(records.get(c.corrects)) || (c.fields.odometer_km !== null && c.fields.odometer_km !== undefined) || !records.has(c.corrects)));
    // Readings under an open dispute set no baseline, as in core/odometer.py (a dispute
    // opens, a resolving one closes them all, in log order: core/corrections.py).
    const disputed = new Set();
    for (const [, r] of [...records].sort((a, b) => a[0] - b[0])) {
      if (r.kind !== "dispute") continue;
      if (r.status === "resolved") disputed.delete(r.disputes);
      else disputed.add(r.disputes);
    }
    if (!retimed && !readings.some((r) => r.at === null || !Number.isInteger(r.km))) {
      // core/odometer.py rollback_alerts: in time order (ties keep log order), a reading
      // more than the tolerance below the highest so far; it becomes the new baseline.
      readings.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.index - b.index));
      let highest = null;
      for (const r of readings) {
        if (highest !== null && r.km < highest.km - ROLLBACK_TOLERANCE_KM) {
          out.push({ index: r.index, names: [highest.index, r.index], why: `an odometer reading of ${r.km} km after ${highest.km} km at entry ${highest.index} (a rollback)` });
          highest = r;
        } else if ((highest === null || r.km > highest.km) && !disputed.has(r.index)) highest = r;
      }
    }
    out.push(...registeredTwice(records, logged));
    return out.sort((a, b) => a.index - b.index);
  }

  // core/registrations.py over the signed records: a registration in one country while
  // another country's stay is open, unless that one ended within HANDOVER_DAYS after it
  // and its end was logged (sequenced_at, in logged) within HANDOVER_DAYS of its date,
  // raises registered_twice naming both entries; an end logged later than that holds the
  // car on its register until the day it was logged, so one dated before a registration
  // elsewhere clears nothing either; each pair of stays once, judged at the
  // later stay's first registration. A correction that hides one raises
  // finding_withdrawn naming them too, and one that keeps the pair of stays clashing
  // names them in the alert in force (core/correction_alerts.py), so every signed pair
  // is named either way. [{index, names, why}]
  const HANDOVER_DAYS = 90n; // core/registrations.py
  const REGISTRATION_ENDS = ["deregistered", "exported"];
  const DAY_US = 86400000000n;
  const floorDay = (us) => us / DAY_US - (us % DAY_US < 0n ? 1n : 0n); // as Python's date()
  function registeredTwice(records, logged = new Map()) {
    const events = [];
    for (const [index, rec] of records) {
      if (rec.kind !== "registration") continue;
      let at;
      try { at = micros(rec.occurred_at, "occurred_at"); } catch { return []; } // an older log's time: left to the server
      events.push({ index, rec, at, day: floorDay(at), end: REGISTRATION_ENDS.includes(rec.event) ? 0 : 1 });
    }
    events.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.end - b.end || a.index - b.index));
    // An end logged more than HANDOVER_DAYS after its date clears nothing: the day it was
    // logged, or null when not known.
    const loggedDay = (index) => {
      const fact = logged.get(index);
      try { return floorDay(micros(fact && fact.at, "sequenced_at")); } catch { return null; } // not known
    };
    const loggedLate = (p) => {
      const on = loggedDay(p.endEntry);
      return on !== null && on - p.until > HANDOVER_DAYS;
    };
    // country -> {period, on}: a stay whose end was logged late holds the car there until on
    const periods = [], openIn = new Map(), lateIn = new Map(), clashes = [];
    for (const e of events) {
      const { country, event } = e.rec;
      if (event === "registered") {
        let period = openIn.get(country);
        if (period !== undefined) period.entries.push(e.index);
        else {
          period = { country, from: e.day, fromEntry: e.index, until: null, endEntry: null, entries: [e.index] };
          periods.push(period);
          openIn.set(country, period);
        }
        lateIn.delete(country); // its new stay holds the car there now
        for (const [c, other] of openIn) if (c !== country) clashes.push({ e, period, other });
        for (const [c, late] of lateIn) if (c !== country && e.day < late.on) clashes.push({ e, period, other: late.period });
        continue;
      }
      let period = openIn.get(country);
      openIn.delete(country);
      if (period === undefined) {
        const ended = periods.filter((p) => p.country === country);
        if (ended.length && ended[ended.length - 1].until !== null) { ended[ended.length - 1].entries.push(e.index); continue; }
        period = { country, from: null, fromEntry: null, entries: [] };
        periods.push(period);
      }
      period.until = e.day;
      period.endEntry = e.index;
      period.entries.push(e.index);
      if (period.from !== null && loggedLate(period)) lateIn.set(country, { period, on: loggedDay(e.index) });
    }
    const seen = new Set(), out = [];
    for (const { e, period, other } of clashes) {
      const a = periods.indexOf(period), b = periods.indexOf(other);
      const pair = a < b ? `${a} ${b}` : `${b} ${a}`;
      if (seen.has(pair)) continue; // the same pair of stays: judged at the later one's first registration
      seen.add(pair);
      if (other.until !== null && other.until - e.day <= HANDOVER_DAYS && !loggedLate(other)) continue;
      const named = other.fromEntry !== null ? other.fromEntry : other.entries[0];
      out.push({ index: e.index, names: [...new Set([named, e.index])].sort((x, y) => x - y), why: `a registration in ${e.rec.country} while the car was still registered in ${other.country} (entry ${named}): registered twice` });
    }
    return out;
  }

  // The verdict the server drew at the top names (links to) every entry mustName finds.
  // seen: {named: Set of linked indexes, clean: drawn as "no problems", problem: or why the
  // page's verdict cannot be read (none, several)}.
  function checkVerdict(report, seen) {
    if (seen.problem) {
      report.findings.push({ ok: false, check: "verdict", detail: seen.problem, index: null });
      return finish(report);
    }
    const named = seen.named;
    let required;
    try {
      required = mustName(report.records, report.logged);
    } catch (err) {
      report.findings.push({ ok: false, check: "verdict", detail: `the verified records could not be read: ${err.message}`, index: null });
      return finish(report);
    }
    const missing = required.filter((m) => seen.clean || m.names.some((i) => !named.has(i)));
    for (const m of missing) {
      report.findings.push({ ok: false, check: "verdict", detail: `entry ${m.index}: ${m.why}, which the verdict at the top of the page does not name`, index: m.index });
    }
    // One failure at a time: a verdict that leaves an entry out miscounts too.
    const { said, expected, listed } = seen.headline || {};
    if (!missing.length && said !== expected) {
      const detail = said === undefined ? "the verdict at the top of the page has no headline"
        : `the verdict's headline says ${JSON.stringify(said)}, but it lists ${listed} ${listed === 1 ? "problem" : "problems"} (${JSON.stringify(expected)})`;
      report.findings.push({ ok: false, check: "verdict", detail, index: null });
    } else if (!missing.length) {
      const what = required.length ? `all ${required.length} entries the bundle proves a buyer must be told of` : "no entry the bundle proves a buyer must be told of, and none is missing";
      report.findings.push({ ok: true, check: "verdict", detail: `the verdict names ${what}`, index: null });
    }
    return finish(report);
  }

  // What the page's one verdict links from the alert lines a reader can see, and what its
  // headline says against the words for the number of those lines (w: the page's words).
  function verdictSeen(w = DEFAULT_WORDS) {
    const all = document.querySelectorAll('[id="verdict"]');
    if (all.length !== 1) return { problem: `the page has ${all.length} verdicts at its top, not one`, named: new Set(), clean: false };
    const verdict = all[0];
    const shown = (el) => el !== null && (typeof el.checkVisibility !== "function" ||
      el.checkVisibility({ opacityProperty: true, visibilityProperty: true, checkOpacity: true, checkVisibilityCSS: true }));
    if (!shown(verdict)) return { problem: "the verdict at the top of the page is hidden", named: new Set(), clean: false };
    const links = [...verdict.querySelectorAll('li.alert a[href^="#entry-"]')].filter((a) => shown(a) && shown(a.closest("li")));
    const listed = [...verdict.querySelectorAll("li.alert")].filter(shown).length;
    const expected = listed ? fill(w[listed === 1 ? "verdict_problems_one" : "verdict_problems_other"], { count: listed }) : w.verdict_clean;
    const title = verdict.querySelector("h1, h2, h3");
    let said;
    if (title) {
      const copy = title.cloneNode(true);
      for (const el of copy.querySelectorAll(".not-verified")) el.remove();
      said = copy.textContent.replace(/\s+/g, " ").trim();
    }
    return { problem: null, clean: verdict.classList.contains("clean"), headline: { said, expected, listed },
      named: new Set(links.map((a) => Number(a.getAttribute("href").slice("#entry-".length)))) };
  }

  // ---- when each entry was logged (api/pages.py _logged and _revoked) -------------------------
  // The date in force of each verified entry, as api/pages.py _in_force reads it: the one it
  // was signed with, or the one the last correction of it (in log order) that names one gives
  // it: {at: microseconds or null (a time of an older log), by: that correction or null}. A
  // correction whose occurred_at is no UTC time is one core/corrections.py check_correction
  // refuses, and it changes nothing. (Python also refuses one whose other values break the
  // kind's schema, or a rule across fields of the record as the earlier corrections of the
  // same entry leave it; the sequencer checks each correction against that record in force,
  // in the same order and by the same rules (ledger/trust.py _in_force), so it appends none
  // such, and this does not check them. An entry a log logged before it did so may be one:
  // the page names it correction_not_applied.)
  const UTC_TIME = /^\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d(:\d\d(\.\d+)?)?([Zz]|[+-]00:?00)$/; // as parseRecord
  function datesInForce(records) {
    const at = (text) => { try { return STR(text) && UTC_TIME.test(text) ? micros(text, "occurred_at") : null; } catch { return null; } };
    const out = new Map([...records].map(([index, rec]) => [index, { at: at(rec.occurred_at), by: null }]));
    for (const [index, rec] of [...records].sort((a, b) => a[0] - b[0])) {
      if (rec.kind !== "correction" || !isObj(rec.fields) || !Object.hasOwn(rec.fields, "occurred_at")) continue;
      const given = at(rec.fields.occurred_at);
      if (given !== null && out.has(rec.corrects)) out.set(rec.corrects, { at: given, by: index });
    }
    return out;
  }
  const DAY = 86400n * 1000000n;
  const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/; // api/verdict.py isolated
  const isolated = (text) => (BIDI.test(text) ? `\u2068${text}\u2069` : text);
  const said = (text) => String(text).replace(/\s+/g, " ").trim();
  // Whether a reader can read el: rendered (not display:none, visibility:hidden, opacity 0,
  // content-visibility, in a closed <details>), with a box of some size inside the document
  // and inside every ancestor that clips its overflow, no clip-path or clip on it or an
  // ancestor, and each of its own rendered parts that hold text (el included) in letters of
  // at least MIN_FONT_PX and a colour that is not transparent. Its text is then read with
  // innerText (what is rendered, not textContent): text a page hides in it is not read.
  // 4 px: a reader's own smallest text setting (8 px: the muted .9rem dates at 7.2 px)
  // must not fail an honest page; text hidden in 0-2 px letters still does.
  const MIN_FONT_PX = 4;
  const alpha = (color) => {
    const c = String(color || "").trim().toLowerCase();
    if (!c || c === "transparent") return 0;
    const slash = /\/\s*([\d.]+)(%?)\s*\)$/.exec(c);
    if (slash) return Number(slash[1]) / (slash[2] ? 100 : 1);
    const rgba = /^rgba\(([^)]*)\)$/.exec(c);
    if (rgba) { const parts = rgba[1].split(","); return parts.length === 4 ? Number(parts[3]) : 1; }
    return 1;
  };
  const rendered = (el) => {
    if (typeof el.checkVisibility === "function") {
      return el.checkVisibility({ opacityProperty: true, visibilityProperty: true, checkOpacity: true, checkVisibilityCSS: true, contentVisibilityAuto: false });
    }
    // Without checkVisibility: the computed styles of it and its ancestors.
    const own = getComputedStyle(el);
    if (own.visibility !== "visible") return false;
    for (let at = el; at && at.nodeType === 1; at = at.parentElement) {
      const s = getComputedStyle(at);
      if (s.display === "none" || Number(s.opacity) === 0 || (at !== el && s.contentVisibility === "hidden")) return false;
      if (at.parentElement && at.parentElement.localName === "details" && !at.parentElement.open && at.localName !== "summary") return false;
    }
    return true;
  };
  const lettered = (el) => {
    const s = getComputedStyle(el);
    const paint = s.webkitTextFillColor === undefined || s.webkitTextFillColor === "" ? s.color : s.webkitTextFillColor;
    return parseFloat(s.fontSize) >= MIN_FONT_PX && alpha(s.color) > 0 && alpha(paint) > 0 &&
      (s.clipPath || "none") === "none";
  };
  const ownText = (el) => [...el.childNodes].some((n) => n.nodeType === 3 && /\S/.test(n.data));
  function readable(el) {
    if (!el || !el.isConnected || !rendered(el)) return false;
    const range = document.createRange();
    range.selectNodeContents(el);
    let box = range.getBoundingClientRect();
    const own = el.getBoundingClientRect();
    if (!(own.width > 0 && own.height > 0 && box.width > 0 && box.height > 0)) return false;
    // Inside the document (not moved off its left or top edge, or past its end) ...
    const doc = document.documentElement;
    const [x, y] = [window.scrollX, window.scrollY];
    const width = Math.max(doc.scrollWidth, doc.clientWidth), height = Math.max(doc.scrollHeight, doc.clientHeight);
    if (box.right + x <= 0 || box.bottom + y <= 0 || box.left + x >= width || box.top + y >= height) return false;
    // ... and inside what each ancestor shows of it; no clip-path or clip on the way up.
    for (let at = el; at && at !== doc; at = at.parentElement) {
      const s = getComputedStyle(at);
      if ((s.clipPath || "none") !== "none" || (s.clip && s.clip !== "auto")) return false;
      if (at !== el && (s.overflowX !== "visible" || s.overflowY !== "visible")) {
        const r = at.getBoundingClientRect();
        const left = Math.max(box.left, r.left), right = Math.min(box.right, r.right);
        const top = Math.max(box.top, r.top), bottom = Math.min(box.bottom, r.bottom);
        if (!(right > left && bottom > top)) return false;
        box = { left, right, top, bottom };
      }
    }
    // Every rendered part of it that holds text, in letters a reader can see.
    for (const part of [el, ...el.querySelectorAll("*")]) {
      if (ownText(part) && rendered(part) && !lettered(part)) return false;
    }
    return true;
  }
  const read = (el) => said(el.innerText);

  // After how many days an entry counts as logged late (api/pages.py LATE_LOGGING_DAYS;
  // tests/api/test_page_logged_hardened.py compares the two), and the words the page says
  // logging in, by its language (api/i18n, compared by the same test): the check does not
  // take either from the page it checks, which could say anything with the entries.
  const LATE_DAYS = 90;
  const LOGGED_WORDS = {
    en: {"logged_on": "logged {date}", "date": "{day} {month} {year}", "months": "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec", "key_revoked_later": "Signed with a key revoked later, on {date}: {reason}", "logged_late_one": "Logged {days} day after the date it gives", "logged_late_other": "Logged {days} days after the date it gives", "logged_late_corrected_one": "Logged {days} day after the date correction {index} gives it", "logged_late_corrected_other": "Logged {days} days after the date correction {index} gives it", "late_note_one": "{count} entry was logged more than {days} days after its date (a date is its signer's word; when it was logged, the ledger's)", "late_note_other": "{count} entries were logged more than {days} days after their date (a date is its signer's word; when it was logged, the ledger's)", "revoked_note_one": "{count} entry is signed with a key revoked later; why is said beside it", "revoked_note_other": "{count} entries are signed with a key revoked later; why is said beside each"},
    zh: {"logged_on": "{date}\u5f55\u5165", "date": "{year}\u5e74{month}{day}\u65e5", "months": "1\u6708 2\u6708 3\u6708 4\u6708 5\u6708 6\u6708 7\u6708 8\u6708 9\u6708 10\u6708 11\u6708 12\u6708", "key_revoked_later": "\u7b7e\u540d\u6240\u7528\u7684\u5bc6\u94a5\u540e\u6765\u4e8e {date} \u88ab\u540a\u9500\uff1a{reason}", "logged_late_one": "\u5728\u5176\u6240\u8f7d\u65e5\u671f {days} \u5929\u4e4b\u540e\u624d\u5f55\u5165", "logged_late_other": "\u5728\u5176\u6240\u8f7d\u65e5\u671f {days} \u5929\u4e4b\u540e\u624d\u5f55\u5165", "logged_late_corrected_one": "\u5728\u66f4\u6b63\u8bb0\u5f55 {index} \u6240\u7ed9\u65e5\u671f {days} \u5929\u4e4b\u540e\u624d\u5f55\u5165", "logged_late_corrected_other": "\u5728\u66f4\u6b63\u8bb0\u5f55 {index} \u6240\u7ed9\u65e5\u671f {days} \u5929\u4e4b\u540e\u624d\u5f55\u5165", "late_note_one": "\u6709 {count} \u6761\u8bb0\u5f55\u5728\u5176\u6240\u8f7d\u65e5\u671f {days} \u5929\u4ee5\u540e\u624d\u5f55\u5165\u8d26\u672c\uff08\u65e5\u671f\u7531\u7b7e\u540d\u65b9\u586b\u5199\uff0c\u5f55\u5165\u65f6\u95f4\u7531\u8d26\u672c\u8bb0\u5f55\uff09", "late_note_other": "\u6709 {count} \u6761\u8bb0\u5f55\u5728\u5176\u6240\u8f7d\u65e5\u671f {days} \u5929\u4ee5\u540e\u624d\u5f55\u5165\u8d26\u672c\uff08\u65e5\u671f\u7531\u7b7e\u540d\u65b9\u586b\u5199\uff0c\u5f55\u5165\u65f6\u95f4\u7531\u8d26\u672c\u8bb0\u5f55\uff09", "revoked_note_one": "\u6709 {count} \u6761\u8bb0\u5f55\u7684\u7b7e\u540d\u5bc6\u94a5\u540e\u6765\u88ab\u540a\u9500\uff0c\u539f\u56e0\u89c1\u8be5\u8bb0\u5f55", "revoked_note_other": "\u6709 {count} \u6761\u8bb0\u5f55\u7684\u7b7e\u540d\u5bc6\u94a5\u540e\u6765\u88ab\u540a\u9500\uff0c\u539f\u56e0\u89c1\u5404\u6761\u8bb0\u5f55"},
  };
  // What each template must hold, so that words of a page in a language this script does
  // not carry (read from the page's data-logged-words) cannot say anything but the facts.
  const PLACEHOLDERS = {
    logged_on: ["date"], date: ["day", "month", "year"], key_revoked_later: ["date", "reason"],
    logged_late_one: ["days"], logged_late_other: ["days"],
    logged_late_corrected_one: ["days", "index"], logged_late_corrected_other: ["days", "index"],
  };
  function loggedWords(timeline) {
    const lang = String(document.documentElement.lang || "en").split("-")[0].toLowerCase();
    if (Object.hasOwn(LOGGED_WORDS, lang)) return LOGGED_WORDS[lang];
    let w = null;
    try { w = JSON.parse(timeline.dataset.loggedWords); } catch { return null; }
    if (!isObj(w) || !STR(w.months)) return null;
    const months = w.months.split(/\s+/).filter(Boolean);
    if (months.length !== 12 || new Set(months).size !== 12) return null;
    const holds = Object.entries(PLACEHOLDERS).every(([k, names]) => STR(w[k]) && names.every((n) => w[k].includes(`{${n}}`)));
    return holds ? { ...w, late_note_one: null, late_note_other: null, revoked_note_one: null, revoked_note_other: null } : null;
  }

  // What each entry of the timeline shows of its logging, against the verified bundle: when
  // the ledger logged it (its <time>, both the instant and the words a reader sees), a note
  // exactly when it was logged more than LATE_DAYS days after its date in force, saying how
  // late and after which correction's date, and a mark exactly when its key was revoked
  // later, saying when and why; and the notes at the top (#notes) counting and linking the
  // entries logged late and those with a key revoked later. Only what a reader can read
  // counts (readable), in the words this script carries for the page's language.
  function checkLogged(report, timeline) {
    const add = (ok, detail, index = null) => report.findings.push({ ok, check: "logged", detail, index });
    const w = timeline ? loggedWords(timeline) : null;
    if (!timeline || !w) {
      add(false, "the timeline does not say in what words it says when entries were logged (a date, a day, a month and a year; twelve months; how many days late)");
      return finish(report);
    }
    const limit = LATE_DAYS;
    if (timeline.dataset.lateDays !== undefined && timeline.dataset.lateDays !== String(LATE_DAYS)) {
      add(false, `the timeline says entries count as logged late after ${JSON.stringify(timeline.dataset.lateDays)} days, not after ${LATE_DAYS}`);
      return finish(report);
    }
    // Days are the ledger's time zone's (data-time-zone, api/pages.py _local_day), as the
    // timeline's dates and the guarantees' last days are.
    const zone = timeline.dataset.timeZone || "UTC";
    let inZone = null;
    if (zone !== "UTC") {
      try {
        inZone = new Intl.DateTimeFormat("en-US", { timeZone: zone, year: "numeric", month: "numeric", day: "numeric" });
      } catch {
        add(false, `the timeline says its days are in the time zone ${JSON.stringify(zone)}, which this browser does not know`);
        return finish(report);
      }
    }
    const months = w.months.split(/\s+/).filter(Boolean);
    const day = (us) => {
      let y, m, d;
      if (inZone) {
        const parts = Object.fromEntries(inZone.formatToParts(new Date(Number(us / 1000n))).map((p) => [p.type, p.value]));
        [y, m, d] = [Number(parts.year), Number(parts.month), Number(parts.day)];
      } else {
        [y, m, d] = civilFromDays(Number(us / DAY - (us % DAY < 0n ? 1n : 0n)));
      }
      return fill(w.date, { day: d, month: months[m - 1], year: y });
    };
    const inForce = datesInForce(report.records);
    let checked = 0;
    const lateOnes = [], revokedOnes = [];
    for (const li of timeline.querySelectorAll(":scope > li[data-entry]")) {
      const index = Number(li.dataset.entry);
      const fact = report.logged.get(index);
      if (fact === undefined) continue; // checkShown names an entry the bundle does not hold
      const problems = [];
      const logged = micros(fact.at, "sequenced_at");
      // When it was logged: one <time> a reader sees, at the bundle's instant, in its words,
      // in a .logged that says nothing else (but the brackets around it).
      const times = [...li.querySelectorAll(".logged time")].filter(readable);
      if (times.length !== 1) problems.push(times.length ? `the page shows ${times.length} times it was logged, not one` : `the page does not show when it was logged (${fact.at})`);
      else {
        const attr = times[0].getAttribute("datetime");
        let at = null;
        try { at = micros(attr, "its logged time"); } catch { /* said below */ }
        const text = fill(w.logged_on, { date: day(logged) });
        const around = times[0].closest(".logged");
        const shown = read(times[0]);
        if (at !== logged) problems.push(`the page says it was logged at ${JSON.stringify(attr)}, but the bundle says ${fact.at}`);
        else if (shown !== said(text)) problems.push(`the page says ${JSON.stringify(shown)} of when it was logged, but the bundle says ${fact.at} (${JSON.stringify(text)})`);
        else if (![said(text), said(`(${text})`)].includes(read(around))) {
          problems.push(`the page says ${JSON.stringify(read(around))} of when it was logged, but the bundle says ${fact.at} (${JSON.stringify(text)})`);
        }
      }
      // Logged late: after the date in force by more than the threshold (api/pages.py _logged).
      const dated = inForce.get(index);
      const after = dated.at === null ? 0n : logged - dated.at;
      const days = after / DAY;
      const notes = [...li.querySelectorAll(".late-note")].filter(readable);
      const given = dated.by === null ? "its date" : `the date correction ${dated.by} gives it`;
      if (after > BigInt(limit) * DAY) {
        lateOnes.push(index);
        const n = String(days).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
        const key = `${dated.by === null ? "logged_late" : "logged_late_corrected"}_${days === 1n ? "one" : "other"}`;
        const text = fill(w[key], { count: String(days), days: n, index: dated.by });
        if (!notes.length) problems.push(`it was logged ${n} days after ${given}, more than ${limit}, but the page does not say it was logged late where a reader can read it`);
        else if (notes.length > 1 || read(notes[0]) !== said(text)) {
          problems.push(`it was logged ${n} days after ${given}, but the page's late note says ${JSON.stringify(notes.map(read).join(" "))}, not ${JSON.stringify(said(text))}`);
        }
      } else if (notes.length) {
        const when = after < 0n ? "before its date" : `${days} ${days === 1n ? "day" : "days"} after ${given}, not more than ${limit}`;
        problems.push(`the page says it was logged late (${JSON.stringify(read(notes[0]))}), but it was logged ${when}`);
      }
      // A key revoked later: when (the revocation's logging) and the operator's reason.
      const marks = [...li.querySelectorAll(".revoked-note")].filter(readable);
      if (fact.revoked !== null) {
        revokedOnes.push(index);
        const text = fill(w.key_revoked_later, { date: day(micros(fact.revoked.at, "the revocation's sequenced_at")), reason: isolated(String(fact.revoked.reason)) });
        if (!marks.length) {
          problems.push(`it is signed with a key entry ${fact.revoked.index} revoked later, but the page does not say so where a reader can read it`);
          report.newer = true; // a revocation logged since the page was drawn: reload once
        } else if (marks.length > 1 || read(marks[0]) !== said(text)) {
          problems.push(`its key was revoked at entry ${fact.revoked.index}, but the page's mark says ${JSON.stringify(marks.map(read).join(" "))}, not ${JSON.stringify(said(text))}`);
        }
      } else if (marks.length) {
        problems.push(`the page says its key was revoked later (${JSON.stringify(read(marks[0]))}), but no trust entry of the bundle revokes it`);
      }
      for (const p of problems) add(false, `entry ${index} (${fact.kind}): ${p}`, index);
      checked += 1;
    }
    // The notes at the top (api/pages.py _notes): one for the entries logged late, one for
    // those signed with a key revoked later, each present exactly when there are such
    // entries, counting them in the page's words and linking the first ten, oldest first.
    const summary = (id, entries, key, params) => {
      const what = id === "late" ? "logged late" : "signed with a key revoked later";
      const shown = [...document.querySelectorAll(`[id="note-${id}"]`)].filter(readable);
      if (!entries.length) {
        if (shown.length) add(false, `the notes at the top say entries were ${what} (${JSON.stringify(read(shown[0]))}), but the bundle proves none`);
        return;
      }
      if (shown.length !== 1) {
        add(false, shown.length ? `the page has ${shown.length} notes at the top of the entries ${what}, not one`
          : `${entries.length} ${entries.length === 1 ? "entry was" : "entries were"} ${what}, but the notes at the top do not say so`);
        return;
      }
      const note = shown[0];
      const links = [...note.querySelectorAll('a[href^="#entry-"]')].filter(readable).map((a) => Number(a.getAttribute("href").slice("#entry-".length)));
      const first = entries.slice(0, 10);
      if (links.length !== first.length || links.some((i, k) => i !== first[k])) {
        add(false, `the note at the top of the entries ${what} links ${links.length ? `entries ${links.join(", ")}` : "none"}, not ${first.length === 1 ? "entry" : "entries"} ${first.join(", ")}`);
      }
      // Its words, then the links in brackets (", ..." after the tenth), and nothing else.
      const template = w[`${key}_${entries.length === 1 ? "one" : "other"}`];
      const anchors = [...note.querySelectorAll('a[href^="#entry-"]')].filter(readable);
      const bracket = said(`(${anchors.map(read).join(", ")}${entries.length > 10 ? ", \u2026" : ""})`);
      const text = STR(template) ? said(fill(template, { count: entries.length, ...params })) : null;
      const says = read(note);
      if (text === null ? !says.endsWith(bracket) : says !== said(`${text} ${bracket}`)) {
        add(false, `the note at the top of the entries ${what} says ${JSON.stringify(says)}, not ${JSON.stringify(said(`${text === null ? "" : text} ${bracket}`))}`);
      }
    };
    const oldestFirst = (list) => [...list].sort((a, b) => a - b);
    summary("late", oldestFirst(lateOnes), "late_note", { days: LATE_DAYS });
    summary("revoked", oldestFirst(revokedOnes), "revoked_note", {});
    if (!report.findings.some((f) => f.check === "logged" && !f.ok)) {
      const [late, revoked] = [lateOnes.length, revokedOnes.length];
      add(true, `the page shows when each of ${checked} entries was logged, ${late} late-logging ${late === 1 ? "note" : "notes"} and ${revoked} revoked-key ${revoked === 1 ? "mark" : "marks"}, as the bundle proves`);
    }
    return finish(report);
  }

  // ---- the page -------------------------------------------------------------------------------
  const DEFAULT_WORDS = {
    verifying: "Verifying in your browser\u2026",
    verified: "Verified in your browser: {entries} entries against a checkpoint of {size} entries.",
    failed_one: "Verification failed: {count} check failed. Do not rely on this history.",
    failed_other: "Verification failed: {count} checks failed. Do not rely on this history.",
    entry: "entry {index}",
    unsupported: "This browser cannot check the history's signatures. Open this page in a current Chrome, Firefox or Safari to verify it.",
    unchecked: "Could not check this history: the proof did not download ({reason}). No check failed; check your connection and try again.",
    retry: "Try again",
    entry_kind: "entry {index} ({kind})",
    detail_sep: ": ",
    verdict_clean: "No problems reported",
    verdict_problems_one: "{count} problem reported",
    verdict_problems_other: "{count} problems reported",
    kinds: {},
  };
  function words() {
    const el = document.getElementById("verification-i18n");
    try { const given = el ? JSON.parse(el.textContent) : {}; return { ...DEFAULT_WORDS, ...(isObj(given) ? given : {}) }; } catch { return DEFAULT_WORDS; }
  }
  const fill = (text, params) => String(text).replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m));

  // Probe with a real key (RFC 8032 test 1): some engines refuse odd points on import.
  const supported = () => crypto.subtle.importKey("raw", Uint8Array.from(
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a".match(/../g), (h) => parseInt(h, 16)),
    { name: "Ed25519" }, false, ["verify"]).then(() => true, () => false);

  // The bundle, fetched again once after a short wait if the network or a gateway failed.
  async function fetchBundle(url) {
    let last = null;
    for (let attempt = 0; attempt < 2; attempt += 1) {
      if (attempt) await new Promise((done) => setTimeout(done, 1500));
      try {
        // Revalidated (ETag): a page opened again downloads the bundle only if it changed.
        const r = await fetch(url, { cache: "no-cache", credentials: "same-origin" });
        if (r.ok) return new Uint8Array(await r.arrayBuffer());
        last = new Error(`HTTP ${r.status}`);
      } catch (err) {
        last = err;
      }
    }
    throw last;
  }

  async function run(box) {
    const w = words();
    const headline = document.getElementById("verification-headline") || box;
    const details = document.getElementById("verification-details");
    const verdict = document.getElementById("verdict");
    const state = (s) => { box.dataset.state = s; document.documentElement.dataset.verification = s; };
    // Text nodes only: details may hold attacker-chosen strings. The checks' details are
    // in English; on a page in another language they are marked so (lang="en").
    const english = (text) => {
      const span = document.createElement("span");
      span.lang = "en";
      span.textContent = text;
      return span;
    };
    const line = (...parts) => {
      const li = document.createElement("li");
      li.append(...parts);
      if (details) details.append(li);
      return li;
    };
    // A template of the page's words with some parameters in English: {reason}.
    const fillNodes = (template, params, inEnglish) => String(template).split(/(\{\w+\})/).map((part) => {
      const k = /^\{(\w+)\}$/.exec(part);
      if (!k || !(k[1] in params)) return document.createTextNode(part);
      return inEnglish.includes(k[1]) ? english(String(params[k[1]])) : document.createTextNode(String(params[k[1]]));
    });
    // What the server says at the top is not verified (failed, not checked, cannot be
    // checked here): greyed, with "(not verified)" beside it.
    const unverified = (yes) => {
      if (!verdict) return;
      if (yes) verdict.dataset.state = "unverified";
      else delete verdict.dataset.state;
      for (const el of verdict.querySelectorAll(".not-verified")) el.hidden = !yes;
    };
    state("verifying");
    unverified(false);
    headline.textContent = w.verifying;
    if (details) details.replaceChildren();
    // "Try again" goes away while the check runs: if the keyboard was on it, the
    // headline takes the focus (not <body>), and a new "Try again" takes it back.
    const retry = document.getElementById("verification-retry");
    const hadFocus = Boolean(retry) && document.activeElement === retry;
    if (hadFocus) {
      headline.tabIndex = -1;
      headline.focus();
    }
    if (retry) retry.remove();
    if (!(globalThis.crypto && crypto.subtle && (await supported()))) {
      headline.textContent = w.unsupported;
      unverified(true);
      state("unsupported");
      return;
    }
    let bytes;
    try {
      bytes = await fetchBundle(box.dataset.bundleUrl);
    } catch (err) {
      // Not a failed check: nothing was checked. Say so, and offer to try again (a button
      // of its own under the headline, not an item of the list of failed checks).
      headline.replaceChildren(...fillNodes(w.unchecked, { reason: String((err && err.message) || err) }, ["reason"]));
      const again = document.createElement("button");
      again.type = "button";
      again.id = "verification-retry";
      again.textContent = w.retry;
      again.addEventListener("click", () => run(box));
      if (details) details.after(again);
      else box.append(again);
      if (hadFocus && (document.activeElement === headline || document.activeElement === document.body)) again.focus();
      unverified(true);
      state("unchecked");
      return;
    }
    let report;
    try {
      report = await verifyBundle(bytes, box.dataset.vkey, box.dataset.vin || "");
      // A bundle that failed proves nothing to compare the page with.
      if (report.ok) {
        const shown = document.querySelectorAll("#timeline > li[data-entry]");
        report = checkShown(report, new Set(Array.from(shown, (li) => Number(li.dataset.entry))));
        report = checkVerdict(report, verdictSeen(w));
        report = checkLogged(report, document.getElementById("timeline"));
      }
    } catch (err) {
      report = finish({ ok: false, vin: "", size: null, origin: null,
        findings: [{ ok: false, check: "bundle", detail: String(err && err.message || err), index: null }] });
    }
    window.vinledger.lastReport = report;
    // An entry logged between drawing the page and fetching its bundle: draw the page
    // again, once. A server that keeps leaving an entry out still fails after that.
    const again = `vinledger-reloaded:${location.pathname}`;
    try {
      if (report.newer && !sessionStorage.getItem(again)) {
        sessionStorage.setItem(again, "1");
        location.reload();
        return;
      }
      sessionStorage.removeItem(again);
    } catch (err) { /* no storage (private mode): report as it is */ }
    if (report.ok) {
      const entries = report.findings.filter((f) => f.check === "signature").length;
      const time = new Date().toLocaleString(document.documentElement.lang || undefined, { dateStyle: "medium", timeStyle: "short" });
      headline.textContent = fill(w.verified, { size: report.size, entries, time });
      state("verified");
    } else {
      const failed = report.findings.filter((f) => !f.ok);
      headline.textContent = fill(failed.length === 1 ? w.failed_one : w.failed_other, { count: failed.length });
      const kinds = isObj(w.kinds) ? w.kinds : {};
      const englishPage = /^en\b/i.test(document.documentElement.lang || "en");
      for (const f of failed) {
        if (f.index === null) { line(english(`${f.check}: ${f.detail}`)); continue; }
        // Details name their entry (and its kind) in English: "entry 25 (transfer): key ...".
        // The label names them in the page's language, the rest stays in English.
        const named = new RegExp(`^entry ${f.index}(?: \\(([a-z_]+)\\))?: `).exec(f.detail);
        if (!named && englishPage && f.detail.startsWith(`entry ${f.index} `)) { line(f.detail); continue; }
        const kind = named && named[1];
        const label = kind ? fill(w.entry_kind, { index: f.index, kind: Object.hasOwn(kinds, kind) ? kinds[kind] : kind }) : fill(w.entry, { index: f.index });
        line(label + w.detail_sep, english(named ? f.detail.slice(named[0].length) : f.detail));
      }
      // What the server said at the top is not verified: say so up there, where a phone
      // shows it, not only in this box.
      unverified(true);
      const warning = document.getElementById("unverified");
      if (warning) warning.hidden = false;
      state("failed");
    }
  }

  window.vinledger = { verifyBundle, mustName, datesInForce, lastReport: null, KINDS_BY_ROLE, CORRECTABLE, FIXED_REFERENCES, SALE_TERMS, DECIDED, repeatedKey };
  const start = () => {
    const box = document.getElementById("verification");
    if (box && box.dataset.bundleUrl && box.dataset.vkey) run(box);
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
