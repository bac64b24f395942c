/* SPDX-License-Identifier: MIT */
/*
 * hashmap.h - a map from 64-bit keys to pointers, O(1) on average.
 *
 * Open addressing with linear probing and backward-shift deletion (no
 * tombstones, so a table that has seen a million inserts and deletes is as
 * fast as a fresh one). It grows at 3/4 load and shrinks below 1/8. Not
 * thread-safe: its user holds a lock. Values are never NULL.
 */
#ifndef ACL_SHIM_HASHMAP_H
#define ACL_SHIM_HASHMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

struct shim_hslot {
	uint64_t key;
	void *val; /* NULL: the slot is free */
};

struct shim_hmap {
	struct shim_hslot *slots;
	size_t cap; /* a power of two, or 0 */
	size_t n;
};

/* The value stored under key, or NULL. */
SHIM_HIDDEN void *shim_hmap_get(const struct shim_hmap *m, uint64_t key);
/* Stores val (not NULL) under key, replacing what was there; false if out of memory. */
SHIM_HIDDEN bool shim_hmap_put(struct shim_hmap *m, uint64_t key, void *val);
/* Removes key if it maps to val (any value if val is NULL); returns what it removed. */
SHIM_HIDDEN void *shim_hmap_del(struct shim_hmap *m, uint64_t key, const void *val);
/* Calls fn on every value (fn may free it), then empties the map and frees its table. */
SHIM_HIDDEN void shim_hmap_clear(struct shim_hmap *m, void (*fn)(void *val));

#endif /* ACL_SHIM_HASHMAP_H */
