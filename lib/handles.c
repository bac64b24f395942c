/* SPDX-License-Identifier: MIT */
/*
 * handles.c - what this process knows of its live handles, found by
 * number in O(1): what ALLOC or IMPORT said of each (length, attribute,
 * location, mmap offset), so that aclrtMapMem and the property calls need
 * no QUERY, and the shareable handle it was exported under, so that an
 * import refused with -EPERM can say "you are the exporter".
 *
 * The table is a cache of the kernel's: a handle missing from it (the
 * library ran out of memory when it was made) is asked of the kernel with
 * QUERY, and a handle is dropped from it before FREE reaches the kernel,
 * so the kernel may hand its number out again at once.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "internal.h"

struct shim_export_rec {
	uint32_t type;
	uint8_t bytes[ACL_SHARE_FABRIC_HANDLE_LEN];
};

struct handle_rec {
	struct shim_handle_info info;
	struct shim_export_rec *exp; /* NULL: not exported (as far as we know) */
};

static pthread_mutex_t handle_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shim_hmap by_id;	/* handle number -> struct handle_rec */
static struct shim_hmap by_key;	/* export_key() -> struct handle_rec */
/*
 * Bumped whenever a handle leaves the table or a new one replaces an entry:
 * what a QUERY said is recorded only if nothing of the kind happened since
 * the lookup that missed (the number may be dead, or live again, by then).
 */
static uint64_t table_gen;

void shim_handles_lock(void)
{
	pthread_mutex_lock(&handle_lock);
}

void shim_handles_unlock(void)
{
	pthread_mutex_unlock(&handle_lock);
}

static void free_rec(void *p)
{
	struct handle_rec *r = p;

	free(r->exp);
	free(r);
}

void shim_handles_forget_child(void)
{
	shim_hmap_clear(&by_key, NULL);
	shim_hmap_clear(&by_id, free_rec);
}

/*
 * The 64 random bits of a shareable handle (all of a DEFAULT one, the key of
 * a FABRIC one), the type mixed in; the record's bytes are compared too.
 */
static uint64_t export_key(uint32_t type, const void *sh)
{
	uint64_t v;

	if (type == ACL_SHARE_HANDLE_DEFAULT) {
		memcpy(&v, sh, sizeof(v));
		return v;
	}
	memcpy(&v, (const uint8_t *)sh + offsetof(struct acl_share_fabric_handle, key), sizeof(v));
	return ~v;
}

/* With handle_lock held: drops the index entry of r's export and the record of it. */
static void unindex_export(struct handle_rec *r)
{
	if (!r->exp)
		return;
	shim_hmap_del(&by_key, export_key(r->exp->type, r->exp->bytes), r);
	free(r->exp);
	r->exp = NULL;
}

/*
 * Records what the kernel said of a handle. What ALLOC or IMPORT said
 * (@gen NULL) wins over an older entry of the number; what a QUERY said is
 * recorded only if the table has not changed since *@gen was read.
 */
static void add_rec(const struct shim_handle_info *info, const uint64_t *gen)
{
	struct handle_rec *r = calloc(1, sizeof(*r)), *old;

	pthread_mutex_lock(&handle_lock);
	old = shim_hmap_get(&by_id, info->id);
	if (gen && (old || *gen != table_gen)) {
		free(r);
		r = NULL;
	} else if (old) {
		/* Even when the new record cannot be had: the old one describes a freed handle. */
		unindex_export(old);
		shim_hmap_del(&by_id, info->id, old);
		free_rec(old);
		table_gen++;
	}
	/* Losing an entry to a failed allocation costs a QUERY later, nothing more. */
	if (r) {
		r->info = *info;
		if (!shim_hmap_put(&by_id, info->id, r))
			free(r);
	}
	pthread_mutex_unlock(&handle_lock);
}

void shim_handles_add(const struct shim_handle_info *info)
{
	add_rec(info, NULL);
}

void shim_handles_forget(uint32_t id)
{
	struct handle_rec *r;

	pthread_mutex_lock(&handle_lock);
	r = shim_hmap_del(&by_id, id, NULL);
	if (r) {
		unindex_export(r);
		free_rec(r);
	}
	table_gen++;
	pthread_mutex_unlock(&handle_lock);
}

static void info_from_query(struct shim_handle_info *info, uint32_t id,
			    const struct acl_share_query *q)
{
	*info = (struct shim_handle_info){
		.id = id,
		.length = q->out_length,
		.mem_attr = q->out_mem_attr,
		.loc_type = q->out_location_type,
		.loc_id = q->out_location_id,
		.mmap_offset = q->out_mmap_offset,
		.remote = q->out_flags & ACL_SHARE_QUERY_REMOTE,
	};
}

aclError shim_handle_info(const char *fn, aclrtDrvMemHandle handle, struct shim_handle_info *info)
{
	uintptr_t v = (uintptr_t)handle;
	struct acl_share_query q;
	struct handle_rec *r;
	uint64_t gen = 0;
	aclError ret;

	if (v != 0 && v <= UINT32_MAX) {
		pthread_mutex_lock(&handle_lock);
		r = shim_hmap_get(&by_id, v);
		if (r)
			*info = r->info;
		gen = table_gen;
		pthread_mutex_unlock(&handle_lock);
		if (r)
			return ACL_SUCCESS;
	}
	ret = shim_query_handle(fn, handle, &q);
	if (ret)
		return ret;
	info_from_query(info, (uint32_t)v, &q);
	add_rec(info, &gen);
	return ACL_SUCCESS;
}

void shim_handles_note_export(uint32_t id, uint32_t type, const void *sh)
{
	struct shim_export_rec *e = malloc(sizeof(*e));
	struct handle_rec *r;

	/* Only used to word messages: losing it to a failed allocation is harmless. */
	if (!e)
		return;
	e->type = type;
	memset(e->bytes, 0, sizeof(e->bytes));
	memcpy(e->bytes, sh, shim_share_len(type));
	pthread_mutex_lock(&handle_lock);
	r = shim_hmap_get(&by_id, id);
	if (r) {
		unindex_export(r);
		r->exp = e;
		if (!shim_hmap_put(&by_key, export_key(type, sh), r)) {
			r->exp = NULL;
			free(e);
		}
	} else {
		free(e);
	}
	pthread_mutex_unlock(&handle_lock);
}

/* With handle_lock held: the record exported under sh, or NULL. */
static struct handle_rec *exported_as(uint32_t type, const void *sh)
{
	struct handle_rec *r = shim_hmap_get(&by_key, export_key(type, sh));

	if (r && r->exp && r->exp->type == type &&
	    !memcmp(r->exp->bytes, sh, shim_share_len(type)))
		return r;
	return NULL;
}

bool shim_handles_exported_here(uint32_t type, const void *sh)
{
	bool found;

	pthread_mutex_lock(&handle_lock);
	found = exported_as(type, sh) != NULL;
	pthread_mutex_unlock(&handle_lock);
	return found;
}

void shim_handles_forget_export(uint32_t type, const void *sh)
{
	struct handle_rec *r;

	pthread_mutex_lock(&handle_lock);
	r = exported_as(type, sh);
	if (r)
		unindex_export(r);
	pthread_mutex_unlock(&handle_lock);
}
