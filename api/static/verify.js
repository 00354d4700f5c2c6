// vinledger: verify a vehicle's history in the buyer's own browser.
//
// The same checks as `vinledger verify` (ledger/verify.py), with WebCrypto only:
//   1. the checkpoint is a C2SP signed note by the log key the page names;
//   2. every entry is in that checkpoint's tree (RFC 9162 inclusion proofs);
//   3. the trust entries replay from genesis (entry 0 makes the operator, entry 1
//      grants its key; later grants and revocations are signed by an operator key);
//   4. every vehicle entry's DSSE signature verifies with a key granted to its signer
//      before the entry and not revoked before it, and the signer's role may sign
//      that kind of record;
//   5. the VIN chain is whole: positions 0, 1, 2, … each linking to the one before.
// Entries are hashed as the exact bytes served; JSON is parsed only to read fields.
// No request goes anywhere but the bundle URL on this page's own server.
"use strict";

(() => {
  // core/roles.py KINDS_BY_ROLE; tests/api/test_browser.py holds the two equal.
  const KINDS_BY_ROLE = {
    operator: ["actor", "key_grant", "key_revoke", "correction", "recall", "return_request",
               "warranty_claim", "claim_decision", "dispute", "complaint"],
    inspector: ["inspection", "odometer", "correction"],
    workshop: ["maintenance", "odometer", "recall", "correction"],
    insurer: ["insurance_claim", "title_brand", "odometer", "correction"],
    registry: ["title_brand", "transfer", "odometer", "recall", "correction"],
    dealer: ["sale", "odometer", "correction", "return_request", "warranty_claim"],
    referrer: [],
  };
  const TRUST_KINDS = ["actor", "key_grant", "key_revoke"];
  const enc = new TextEncoder();
  const dec = new TextDecoder("utf-8", { fatal: true });

  class Failure extends Error {}

  // ---- bytes ----------------------------------------------------------------------
  function b64decode(text) {
    if (typeof text !== "string" || text.length % 4 !== 0 ||
        !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) {
      throw new Failure("not standard base64");
    }
    const bin = atob(text);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function b64encode(bytes) {
    let bin = "";
    for (const b of bytes) bin += String.fromCharCode(b);
    return btoa(bin);
  }
  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }
  function equal(a, b) {
    return a.length === b.length && a.every((x, i) => x === b[i]);
  }
  function hex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }
  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }
  async function ed25519Verify(publicRaw, signature, message) {
    const key = await crypto.subtle.importKey("raw", publicRaw, { name: "Ed25519" }, false,
                                              ["verify"]);
    return crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
  }

  // ---- RFC 9162 Merkle tree ----------------------------------------------------------
  const hashLeaf = (data) => sha256(concat(Uint8Array.of(0), data));
  const hashChildren = (l, r) => sha256(concat(Uint8Array.of(1), l, r));

  // RFC 9162 §2.1.3.2, with numbers kept exact (no 32-bit bit operators).
  async function verifyInclusion(leaf, index, size, proof, root) {
    if (!(index >= 0 && index < size)) throw new Failure(`index ${index} is not below size ${size}`);
    let fn = index;
    let sn = size - 1;
    let r = leaf;
    for (const p of proof) {
      if (p.length !== 32) throw new Failure("a proof hash is not 32 bytes");
      if (sn === 0) throw new Failure("the inclusion proof is too long");
      if (fn % 2 === 1 || fn === sn) {
        r = await hashChildren(p, r);
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      } else {
        r = await hashChildren(r, p);
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    if (sn !== 0) throw new Failure("the inclusion proof is too short");
    if (!equal(r, root)) throw new Failure("the inclusion proof does not lead to the checkpoint's root");
  }

  // ---- C2SP signed note and checkpoint --------------------------------------------------
  async function parseVerifierKey(vkey) {
    // <name>+<hash>+<key>: the name and hash hold no "+", the base64 key may.
    const m = /^([^+\s]+)\+([0-9a-f]{8})\+(\S+)$/.exec(vkey.trim());
    if (!m) throw new Failure("the verifier key is not <name>+<hash>+<key>");
    const [, name, hashHex, keyB64] = m;
    const key = b64decode(keyB64);
    if (key.length !== 33 || key[0] !== 1) throw new Failure("the verifier key is not an Ed25519 key");
    const raw = key.slice(1);
    const khash = (await sha256(concat(enc.encode(name + "\n"), Uint8Array.of(1), raw))).slice(0, 4);
    if (hex(khash) !== hashHex) throw new Failure("the verifier key's hash does not match its key");
    return { name, keyHash: khash, raw };
  }

  async function openCheckpoint(note, vkey) {
    const verifier = await parseVerifierKey(vkey);
    const split = note.lastIndexOf("\n\n");
    if (split < 0 || !note.endsWith("\n")) throw new Failure("the checkpoint is not a signed note");
    const text = note.slice(0, split + 1);
    let verified = false;
    for (const line of note.slice(split + 2, -1).split("\n")) {
      const m = /^\u2014 (\S+) (\S+)$/.exec(line);
      if (!m) throw new Failure("a signature line of the checkpoint is malformed");
      const sig = b64decode(m[2]);
      if (m[1] !== verifier.name || sig.length !== 68 || !equal(sig.slice(0, 4), verifier.keyHash)) {
        continue; // a signature by another key: ignored, as the spec says
      }
      if (!(await ed25519Verify(verifier.raw, sig.slice(4), enc.encode(text)))) {
        throw new Failure("the checkpoint signature does not verify: the checkpoint was changed");
      }
      verified = true;
    }
    if (!verified) throw new Failure("the checkpoint is not signed by the log key on this page");
    const lines = text.split("\n");
    const size = Number(lines[1]);
    if (lines[0] !== verifier.name) throw new Failure("the checkpoint's origin is not the key's name");
    if (!/^[0-9]+$/.test(lines[1]) || !Number.isSafeInteger(size)) throw new Failure("bad tree size");
    const root = b64decode(lines[2]);
    if (root.length !== 32) throw new Failure("the root hash is not 32 bytes");
    return { origin: lines[0], size, root };
  }

  // ---- DSSE ----------------------------------------------------------------------------
  function pae(type, payload) {
    const t = enc.encode(type);
    return concat(enc.encode(`DSSEv1 ${t.length} `), t, enc.encode(` ${payload.length} `), payload);
  }

  async function verifyEnvelope(envelope, publicRaw, keyid) {
    const payload = b64decode(envelope.payload);
    const message = pae(envelope.payloadType, payload);
    for (const s of envelope.signatures || []) {
      if (s.keyid === keyid && (await ed25519Verify(publicRaw, b64decode(s.sig), message))) {
        return JSON.parse(dec.decode(payload));
      }
    }
    throw new Failure("no signature on the record verifies with the signer's key");
  }

  // ---- the bundle ------------------------------------------------------------------------
  async function verifyBundle(bundleBytes, vkey) {
    const report = { ok: false, vin: "", size: null, origin: null, findings: [] };
    const pass = (check, detail, index = null) => report.findings.push({ ok: true, check, detail, index });
    const fail = (check, detail, index = null) => report.findings.push({ ok: false, check, detail, index });
    try {
      let bundle;
      try {
        bundle = JSON.parse(dec.decode(bundleBytes));
        if (bundle.format !== "vinledger-bundle/1") throw new Failure(`format ${bundle.format}`);
      } catch (err) {
        fail("bundle", `not a vinledger bundle: ${err.message}`);
        return finish(report);
      }
      report.vin = bundle.vin;
      let cp;
      try {
        cp = await openCheckpoint(bundle.checkpoint, vkey);
      } catch (err) {
        fail("checkpoint", `checkpoint: ${err.message}`);
        return finish(report);
      }
      report.size = cp.size;
      report.origin = cp.origin;
      pass("checkpoint", `signed by the log key, size ${cp.size}`);

      const included = async (items, what) => {
        const out = [];
        for (const item of items) {
          try {
            const data = b64decode(item.entry);
            const leaf = await hashLeaf(data);
            await verifyInclusion(leaf, item.index, cp.size, item.proof.map(b64decode), cp.root);
            const entry = JSON.parse(dec.decode(data));
            if (entry.index !== item.index) throw new Failure(`says its index is ${entry.index}`);
            out.push({ index: item.index, leaf, entry });
          } catch (err) {
            fail("inclusion", `entry ${item.index}: ${err.message}`, item.index);
          }
        }
        if (out.length) pass("inclusion", `${out.length} ${what} entries included in the checkpoint's tree`);
        return out.sort((a, b) => a.index - b.index);
      };
      const trust = await included(bundle.trust, "trust");
      const vehicle = await included(bundle.entries, "vehicle");

      // Trust replay from genesis.
      const keys = new Map(); // keyid -> {actor, raw, granted, revoked}
      const roles = new Map(); // actor id -> role
      const apply = (record, index) => {
        if (record.kind === "actor") roles.set(record.actor_id, record.role);
        else if (record.kind === "key_grant") {
          keys.set(record.key_id, { actor: record.actor_id, raw: b64decode(record.public_key),
                                    granted: index, revoked: null });
        } else if (record.kind === "key_revoke" && keys.has(record.key_id)) {
          keys.get(record.key_id).revoked = index;
        }
      };
      const validKey = (entry, index) => {
        const key = keys.get(entry.signer.keyid);
        const short = String(entry.signer.keyid).slice(0, 16);
        if (!key || key.granted >= index) throw new Failure(`key ${short}… was not granted before entry ${index}`);
        if (key.revoked !== null && key.revoked < index) throw new Failure(`key ${short}… was revoked at entry ${key.revoked}`);
        if (key.actor !== entry.signer.actor_id) throw new Failure(`key belongs to ${key.actor}, not ${entry.signer.actor_id}`);
        return key;
      };
      const byIndex = new Map(trust.map((t) => [t.index, t.entry]));
      let trustOk = true;
      if (!byIndex.has(0) || !byIndex.has(1)) {
        fail("trust", "the bundle lacks the genesis entries 0 and 1");
        trustOk = false;
      } else {
        for (const { index, entry } of trust) {
          try {
            let record;
            if (index === 0 || index === 1) {
              const grant = JSON.parse(dec.decode(b64decode(byIndex.get(1).envelope.payload)));
              if (grant.kind !== "key_grant") throw new Failure("entry 1 is not the operator's key grant");
              record = await verifyEnvelope(entry.envelope, b64decode(grant.public_key), grant.key_id);
              if (index === 0 && (record.kind !== "actor" || record.role !== "operator" ||
                                  grant.actor_id !== record.actor_id)) {
                throw new Failure("entry 0 does not create the operator that entry 1 grants");
              }
            } else {
              const key = validKey(entry, index);
              if (roles.get(key.actor) !== "operator") throw new Failure(`signed by ${key.actor}, who is not an operator`);
              record = await verifyEnvelope(entry.envelope, key.raw, entry.signer.keyid);
            }
            if (!TRUST_KINDS.includes(record.kind)) throw new Failure(`${record.kind} is not a trust record`);
            apply(record, index);
          } catch (err) {
            fail("trust", `entry ${index} (${entry.kind}): ${err.message}`, index);
            trustOk = false;
          }
        }
        if (trustOk) pass("trust", `${keys.size} keys and ${roles.size} actors replayed from genesis`);
      }

      // Signatures, keys and roles of the vehicle's entries.
      for (const { index, entry } of vehicle) {
        try {
          const key = validKey(entry, index);
          const signed = await verifyEnvelope(entry.envelope, key.raw, entry.signer.keyid);
          // A report in a provider's own format stands for the inspection the ledger
          // normalised it into; the signature above covers the report as signed.
          const record = entry.derived && entry.derived.record ? entry.derived.record : signed;
          if (record.kind !== entry.kind || record.vin !== entry.vin) {
            throw new Failure("the signed record's kind or VIN differs from the entry's");
          }
          const role = roles.get(key.actor) || "";
          if (!(KINDS_BY_ROLE[role] || []).includes(record.kind)) {
            throw new Failure(`a ${role || "unknown actor"} may not sign ${record.kind}`);
          }
          pass("signature", `entry ${index} (${entry.kind}) signed by ${key.actor}`, index);
        } catch (err) {
          fail("signature", `entry ${index} (${entry.kind}): ${err.message}`, index);
        }
      }

      // The VIN chain.
      let prev = null;
      let prevIndex = -1;
      let chainOk = true;
      const chain = [...vehicle].sort((a, b) => (a.entry.vin_seq ?? 0) - (b.entry.vin_seq ?? 0));
      chain.forEach(({ index, leaf, entry }, seq) => {
        let problem = null;
        if (entry.vin !== bundle.vin) problem = `is about VIN ${entry.vin}, not ${bundle.vin}`;
        else if (entry.vin_seq !== seq) problem = `has chain position ${entry.vin_seq}, expected ${seq}: an entry is missing`;
        else if (entry.prev !== (prev === null ? null : b64encode(prev))) problem = "does not link to the previous entry of this VIN";
        else if (index <= prevIndex) problem = "comes before the entry it follows";
        if (problem) { fail("chain", `entry ${index} ${problem}`, index); chainOk = false; }
        prev = leaf;
        prevIndex = index;
      });
      if (chain.length && chainOk) pass("chain", `${chain.length} entries form one unbroken chain for ${bundle.vin}`);
      if (!bundle.entries.length) fail("chain", "the bundle holds no entries for this vehicle");
    } catch (err) {
      fail("bundle", `verification stopped: ${err.message}`);
    }
    return finish(report);
  }

  function finish(report) {
    report.ok = report.findings.length > 0 && report.findings.every((f) => f.ok);
    return report;
  }

  // ---- the page -----------------------------------------------------------------------------
  const DEFAULT_WORDS = {
    verifying: "Verifying in your browser…",
    verified: "Verified in your browser at {time}: {entries} entries, checkpoint of {size} entries.",
    failed: "VERIFICATION FAILED: {count} check(s) failed. Do not rely on this history.",
    entry: "entry {index}",
    unsupported: "Your browser cannot check Ed25519 signatures; verify with `vinledger verify` instead.",
  };

  function words() {
    const el = document.getElementById("verification-i18n");
    try {
      return { ...DEFAULT_WORDS, ...(el ? JSON.parse(el.textContent) : {}) };
    } catch {
      return DEFAULT_WORDS;
    }
  }
  const fill = (text, params) => text.replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m));

  async function supported() {
    try {
      await crypto.subtle.importKey("raw", new Uint8Array(32), { name: "Ed25519" }, false, ["verify"]);
      return true;
    } catch {
      return false;
    }
  }

  async function run(box) {
    const w = words();
    const headline = document.getElementById("verification-headline");
    const details = document.getElementById("verification-details");
    const state = (s) => { box.dataset.state = s; document.documentElement.dataset.verification = s; };
    state("verifying");
    headline.textContent = w.verifying;
    details.replaceChildren();
    if (!window.crypto || !crypto.subtle || !(await supported())) {
      headline.textContent = w.unsupported;
      state("unsupported");
      return;
    }
    let report;
    try {
      const r = await fetch(box.dataset.bundleUrl, { cache: "no-store" });
      if (!r.ok) throw new Error(`the bundle could not be fetched (HTTP ${r.status})`);
      report = await verifyBundle(new Uint8Array(await r.arrayBuffer()), box.dataset.vkey);
    } catch (err) {
      report = finish({ ok: false, vin: "", size: null, origin: null,
                        findings: [{ ok: false, check: "bundle", detail: err.message, index: null }] });
    }
    window.vinledger.lastReport = report;
    const add = (text) => { const li = document.createElement("li"); li.textContent = text; details.append(li); };
    if (report.ok) {
      const entries = report.findings.filter((f) => f.check === "signature").length;
      const time = new Date().toLocaleString(document.documentElement.lang || undefined);
      headline.textContent = fill(w.verified, { entries, size: report.size, time });
      state("verified");
    } else {
      const failures = report.findings.filter((f) => !f.ok);
      headline.textContent = fill(w.failed, { count: failures.length });
      for (const f of failures) {
        const where = f.index === null ? f.check : fill(w.entry, { index: f.index });
        add(`${where}: ${f.detail}`);
      }
      state("failed");
    }
  }

  window.vinledger = { verifyBundle, lastReport: null, KINDS_BY_ROLE };
  document.addEventListener("DOMContentLoaded", () => {
    const box = document.getElementById("verification");
    if (box && box.dataset.bundleUrl && box.dataset.vkey) run(box);
  });
})();
