/* SPDX-License-Identifier: MIT */
/*
 * hashmap.c - the map of hashmap.h: open addressing, linear probing,
 * backward-shift deletion.
 */
#include <stdlib.h>

#include "hashmap.h"

#define MIN_CAP 16

/* Fibonacci hashing: the top log2(cap) bits of key * 2^64/phi index a table of cap slots. */
static size_t home(uint64_t key, size_t cap)
{
	return (size_t)((key * 0x9e3779b97f4a7c15ULL) >> (64 - __builtin_ctzll(cap)));
}

/* The slot holding key, or the free slot where it would go. */
static size_t find(const struct shim_hmap *m, uint64_t key)
{
	size_t i = home(key, m->cap);

	while (m->slots[i].val && m->slots[i].key != key)
		i = (i + 1) & (m->cap - 1);
	return i;
}

static bool resize(struct shim_hmap *m, size_t cap)
{
	struct shim_hslot *old = m->slots, *s = calloc(cap, sizeof(*s));
	size_t old_cap = m->cap;

	if (!s)
		return false;
	m->slots = s;
	m->cap = cap;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].val)
			m->slots[find(m, old[i].key)] = old[i];
	free(old);
	return true;
}

void *shim_hmap_get(const struct shim_hmap *m, uint64_t key)
{
	return m->cap ? m->slots[find(m, key)].val : NULL;
}

bool shim_hmap_put(struct shim_hmap *m, uint64_t key, void *val)
{
	size_t i;

	/* Keep the load at most 3/4; a table that cannot grow may still have room. */
	if ((m->n + 1) * 4 > m->cap * 3 && !resize(m, m->cap ? m->cap * 2 : MIN_CAP) &&
	    m->n + 1 >= m->cap)
		return false;
	i = find(m, key);
	if (!m->slots[i].val)
		m->n++;
	m->slots[i] = (struct shim_hslot){ .key = key, .val = val };
	return true;
}

void *shim_hmap_del(struct shim_hmap *m, uint64_t key, const void *val)
{
	size_t i, j, mask;
	void *was;

	if (!m->cap)
		return NULL;
	i = find(m, key);
	was = m->slots[i].val;
	if (!was || (val && was != val))
		return NULL;
	mask = m->cap - 1;
	/* Move back every later entry of the run whose home is not in (i, j]. */
	for (j = (i + 1) & mask; m->slots[j].val; j = (j + 1) & mask) {
		size_t k = home(m->slots[j].key, m->cap);

		if (i <= j ? (k <= i || k > j) : (k <= i && k > j)) {
			m->slots[i] = m->slots[j];
			i = j;
		}
	}
	m->slots[i] = (struct shim_hslot){ 0 };
	m->n--;
	if (m->n == 0) {
		shim_hmap_clear(m, NULL);
	} else if (m->cap > MIN_CAP && m->n < m->cap / 8) {
		resize(m, m->cap / 2); /* a failure only keeps the bigger table */
	}
	return was;
}

void shim_hmap_clear(struct shim_hmap *m, void (*fn)(void *val))
{
	for (size_t i = 0; fn && i < m->cap; i++)
		if (m->slots[i].val)
			fn(m->slots[i].val);
	free(m->slots);
	*m = (struct shim_hmap){ 0 };
}
