"""The append-only log: RFC 9162 Merkle tree, proofs, checkpoints, tiles, storage."""
