/* SPDX-License-Identifier: MIT */
/*
 * ipc.c - the IPC memory family: aclrtMalloc memory shared by key.
 *
 * One mechanism, two front doors: an IPC key is a FABRIC shareable handle
 * of this server written as text, so the kernel's export table, whitelist
 * and lifetime rules (share.c, kmod/export.c) are the ones every key obeys.
 * The key is "aclipc" followed by the server id (8 hex digits), the
 * export's random 64-bit key (16) and its 128-bit random secret (32): 62
 * characters, 192 bits drawn by the kernel, checked on every use.
 *
 * A key names the first part of an allocation (the export's length: an
 * import maps that much and the kernel no more). An exported allocation
 * carries its key (devmem.c: aclrtFree forgets both);
 * the imports are remembered here with the mapping made for them. The
 * exporter's aclrtIpcMemClose revokes the export (ACL_SHARE_IOC_REVOKE), an
 * importer's unmaps and frees its import.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define KEY_PREFIX "aclipc"
#define KEY_CHARS (sizeof(KEY_PREFIX) - 1 + 8 + 16 + 32)
_Static_assert(KEY_CHARS + 1 == SHIM_IPC_KEY_LEN, "SHIM_IPC_KEY_LEN");
#define KEY_MIN_LEN 65	/* CANN: the key buffer holds at least 65 bytes */

/* An import of this process. */
struct ipc_key {
	char key[KEY_CHARS + 1];
	uintptr_t ptr;			/* the mapping made for it */
	size_t size;
	aclrtDrvMemHandle handle;
};

/*
 * export_lock makes an export and its key (devmem.c) one step, for
 * GetExportKey and the exporter's Close: two threads asking for the key of
 * one allocation get the same key.
 */
static pthread_mutex_t export_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t ipc_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ipc_key *keys;		/* protected by ipc_lock */
static size_t n_keys, cap_keys;

void shim_ipc_lock(void)
{
	pthread_mutex_lock(&export_lock);
	pthread_mutex_lock(&ipc_lock);
}

void shim_ipc_unlock(void)
{
	pthread_mutex_unlock(&ipc_lock);
	pthread_mutex_unlock(&export_lock);
}

void shim_ipc_forget_child(void)
{
	shim_drop((void **)&keys, &n_keys, &cap_keys);
}

/* With ipc_lock held: the entry of @key, or NULL. */
static struct ipc_key *find_key(const char *key)
{
	for (size_t i = 0; i < n_keys; i++)
		if (!strcmp(keys[i].key, key))
			return &keys[i];
	return NULL;
}

/* With ipc_lock held. */
static void drop_key(struct ipc_key *k)
{
	*k = keys[--n_keys];
	if (n_keys == 0)
		shim_drop((void **)&keys, &n_keys, &cap_keys);
}

static aclError add_key(const char *fn, const struct ipc_key *k)
{
	pthread_mutex_lock(&ipc_lock);
	if (!shim_grow((void **)&keys, &cap_keys, n_keys, sizeof(*keys))) {
		pthread_mutex_unlock(&ipc_lock);
		return shim_fail(ACL_ERROR_RT_MEMORY_ALLOCATION, "%s: out of memory for the key table",
				 fn);
	}
	keys[n_keys++] = *k;
	pthread_mutex_unlock(&ipc_lock);
	return ACL_SUCCESS;
}

static void key_from_fabric(const struct acl_share_fabric_handle *f, char *out)
{
	int o = snprintf(out, KEY_CHARS + 1, KEY_PREFIX "%08" PRIx32 "%016" PRIx64, f->server_id,
			 (uint64_t)f->key);

	for (size_t i = 0; i < sizeof(f->secret); i++)
		o += snprintf(out + o, KEY_CHARS + 1 - (size_t)o, "%02x", f->secret[i]);
}

static bool hex_field(const char *s, size_t n, uint64_t *v)
{
	*v = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		unsigned int d;

		if (c >= '0' && c <= '9')
			d = (unsigned int)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned int)(c - 'a' + 10);
		else
			return false;
		*v = *v << 4 | d;
	}
	return true;
}

/* Parses a key into the FABRIC handle it stands for; 107017 if it is not one. */
static aclError fabric_from_key(const char *fn, const char *key, struct acl_share_fabric_handle *f)
{
	size_t p = sizeof(KEY_PREFIX) - 1;
	uint64_t v;

	*f = (struct acl_share_fabric_handle){
		.magic = ACL_SHARE_FABRIC_MAGIC,
		.version = ACL_SHARE_FABRIC_VERSION,
	};
	if (strnlen(key, KEY_CHARS + 1) != KEY_CHARS || strncmp(key, KEY_PREFIX, p))
		goto bad;
	if (!hex_field(key + p, 8, &v))
		goto bad;
	f->server_id = (uint32_t)v;
	p += 8;
	if (!hex_field(key + p, 16, &v))
		goto bad;
	f->key = v;
	p += 16;
	for (size_t i = 0; i < sizeof(f->secret); i++, p += 2) {
		if (!hex_field(key + p, 2, &v))
			goto bad;
		f->secret[i] = (uint8_t)v;
	}
	return ACL_SUCCESS;
bad:
	return shim_fail(ACL_ERROR_RT_INVALID_HANDLE,
			 "%s: key \"%.*s\" is not an IPC key (aclrtIpcMemGetExportKey gives %zu "
			 "characters starting with \"" KEY_PREFIX "\")",
			 fn, (int)KEY_CHARS, key, (size_t)KEY_CHARS);
}

/* With export_lock held: the key of the first @size bytes of the allocation at @devPtr. */
static aclError export_key(const char *fn, void *devPtr, size_t size, uint64_t flags, char *key)
{
	char made[SHIM_IPC_KEY_LEN];
	struct acl_share_fabric_handle f;
	struct shim_devmem_info m;
	size_t range;
	aclError ret;

	if (!shim_devmem_lookup(devPtr, &m))
		return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
				 "%s: devPtr %p is not the start of a live aclrtMalloc allocation of "
				 "this process", fn, devPtr);
	/*
	 * A key names the allocation from its start: the first size bytes,
	 * rounded up to the page-table granularity of its memory (2 MiB, or
	 * 1 GiB for HUGE1G), which importers can map and no more.
	 */
	if (size > m.size)
		return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
				 "%s: size %zu is larger than the allocation at %p (%zu bytes)", fn,
				 size, devPtr, m.size);
	range = (size + m.granularity - 1) / m.granularity * m.granularity;
	/* Asked again, the allocation keeps the key it has, for the same range and flags. */
	if (m.key[0]) {
		if (m.key_size != range || m.key_flags != flags)
			return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
					 "%s: the allocation at %p is exported already, with size %zu "
					 "and flags %" PRIu64 " (aclrtIpcMemClose its key to export it "
					 "otherwise)", fn, devPtr, m.key_size, m.key_flags);
		memcpy(key, m.key, sizeof(m.key));
		return ACL_SUCCESS;
	}

	ret = shim_share_export_fabric(fn, m.handle, flags, range, &f);
	if (ret)
		return ret;
	key_from_fabric(&f, made);
	if (!shim_devmem_set_key(devPtr, m.handle, made, range, flags)) {
		/* aclrtFree'd meanwhile by another thread: its export went with it. */
		return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
				 "%s: the allocation at %p was freed while it was being exported", fn,
				 devPtr);
	}
	memcpy(key, made, sizeof(made));
	return ACL_SUCCESS;
}

aclError aclrtIpcMemGetExportKey(void *devPtr, size_t size, char *key, size_t len, uint64_t flags)
{
	static const char fn[] = "aclrtIpcMemGetExportKey";
	aclError ret;

	if (!devPtr)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: devPtr is NULL", fn);
	if (!key)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: key is NULL", fn);
	if (size == 0)
		return shim_fail(ACL_ERROR_RT_PARAM_INVALID, "%s: size is 0", fn);
	if (len < KEY_MIN_LEN)
		return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
				 "%s: len %zu is too small: a key needs a buffer of at least %d bytes",
				 fn, len, KEY_MIN_LEN);
	if (flags > ACL_RT_IPC_MEM_EXPORT_FLAG_DISABLE_PID_VALIDATION)
		return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
				 "%s: flags 0x%" PRIx64 " is neither ACL_RT_IPC_MEM_EXPORT_FLAG_DEFAULT "
				 "(0) nor ACL_RT_IPC_MEM_EXPORT_FLAG_DISABLE_PID_VALIDATION (1)",
				 fn, flags);
	pthread_mutex_lock(&export_lock);
	ret = export_key(fn, devPtr, size, flags, key);
	pthread_mutex_unlock(&export_lock);
	return ret;
}

aclError aclrtIpcMemSetImportPid(const char *key, int32_t *pid, size_t num)
{
	static const char fn[] = "aclrtIpcMemSetImportPid";
	struct acl_share_fabric_handle f;
	aclError ret;

	if (!key)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: key is NULL", fn);
	if (!pid)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: pid is NULL", fn);
	if (num == 0)
		return shim_fail(ACL_ERROR_RT_PARAM_INVALID, "%s: num is 0", fn);
	ret = fabric_from_key(fn, key, &f);
	if (ret)
		return ret;
	ret = aclrtMemSetPidToShareableHandleV2(&f, ACL_MEM_SHARE_HANDLE_TYPE_FABRIC, pid, num);
	return ret ? shim_fail_within(fn, ret) : ACL_SUCCESS;
}

aclError aclrtIpcMemImportByKey(void **devPtr, const char *key, uint64_t flags)
{
	static const char fn[] = "aclrtIpcMemImportByKey";
	struct acl_share_fabric_handle f;
	struct ipc_key k = { 0 };
	struct shim_handle_info hi;
	aclrtDrvMemHandle h = NULL;
	void *va = NULL;
	int32_t dev;
	aclError ret;

	if (!devPtr)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: devPtr is NULL", fn);
	if (!key)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: key is NULL", fn);
	/* ENABLE_PEER_ACCESS: every device reaches every other's memory already. */
	if (flags > ACL_RT_IPC_MEM_IMPORT_FLAG_ENABLE_PEER_ACCESS)
		return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
				 "%s: flags 0x%" PRIx64 " is neither ACL_RT_IPC_MEM_IMPORT_FLAG_DEFAULT "
				 "(0) nor ACL_RT_IPC_MEM_IMPORT_FLAG_ENABLE_PEER_ACCESS (1)", fn, flags);
	ret = fabric_from_key(fn, key, &f);
	if (ret)
		return ret;
	/* As aclrtMalloc: the thread's device, or the default device 0. */
	dev = shim_current_device();
	ret = shim_share_import_fabric(fn, &f, dev < 0 ? 0 : dev, &h);
	if (ret)
		return ret;
	ret = shim_handle_info(fn, h, &hi);
	if (ret)
		goto err_free;
	ret = aclrtReserveMemAddress(&va, hi.length, 0, NULL, 0);
	if (ret)
		goto err_inner;
	ret = aclrtMapMem(va, hi.length, 0, h, 0);
	if (ret) {
		aclrtReleaseMemAddress(va);
		goto err_inner;
	}
	memcpy(k.key, key, sizeof(k.key) - 1);
	k.key[KEY_CHARS] = '\0';
	k.ptr = (uintptr_t)va;
	k.size = hi.length;
	k.handle = h;
	ret = add_key(fn, &k);
	if (ret) {
		aclrtUnmapMem(va);
		aclrtReleaseMemAddress(va);
		goto err_free;
	}
	shim_devmem_forget_closed(va);	/* a closed import at this address is not owed a free */
	*devPtr = va;
	return ACL_SUCCESS;

err_inner:
	ret = shim_fail_within(fn, ret);
err_free:
	aclrtFreePhysical(h);
	return ret;
}

aclError aclrtIpcMemClose(const char *key)
{
	static const char fn[] = "aclrtIpcMemClose";
	struct acl_share_fabric_handle f;
	struct ipc_key k, *e;
	aclError ret, err[3];

	if (!key)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: key is NULL", fn);
	ret = fabric_from_key(fn, key, &f);
	if (ret)
		return ret;
	pthread_mutex_lock(&export_lock);
	if (shim_devmem_find_key(key, false)) {
		/* New imports fail from now on; the memory stays until aclrtFree and the imports go. */
		ret = shim_share_revoke(fn, &f, ACL_SHARE_HANDLE_FABRIC);
		if (ret == ACL_SUCCESS || ret == ACL_ERROR_RT_INVALID_HANDLE)
			shim_devmem_find_key(key, true);
		pthread_mutex_unlock(&export_lock);
		return ret;
	}
	pthread_mutex_unlock(&export_lock);
	pthread_mutex_lock(&ipc_lock);
	e = find_key(key);
	if (e) {
		k = *e;
		drop_key(e);
	}
	pthread_mutex_unlock(&ipc_lock);
	if (!e)
		return shim_fail(ACL_ERROR_RT_INVALID_HANDLE,
				 "%s: this process neither exported nor imported key \"%s\" (or closed "
				 "it already)", fn, key);
	/*
	 * Every step is tried, whatever the one before said (the caller may
	 * have unmapped it already): nothing of the import may be left.
	 */
	err[0] = aclrtUnmapMem((void *)k.ptr);
	err[1] = aclrtReleaseMemAddress((void *)k.ptr);
	err[2] = aclrtFreePhysical(k.handle);
	ret = err[1] ? err[1] : err[2];
	if (ret)
		return shim_fail_within(fn, ret);
	return shim_devmem_note_closed(fn, (void *)k.ptr);
}

aclError aclrtIpcMemSetAttr(const char *key, aclrtIpcMemAttrType type, uint64_t attr)
{
	static const char fn[] = "aclrtIpcMemSetAttr";
	struct acl_share_fabric_handle f;

	if (!key)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: key is NULL", fn);
	if ((uint32_t)type != ACL_RT_IPC_MEM_ATTR_ACCESS_LINK)
		return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
				 "%s: type %u is not ACL_RT_IPC_MEM_ATTR_ACCESS_LINK (0)", fn,
				 (unsigned int)type);
	if (attr > ACL_RT_IPC_MEM_ATTR_ACCESS_LINK_UB_MULTI_PORT_PATH)
		return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
				 "%s: attr %" PRIu64 " is not an ACL_RT_IPC_MEM_ATTR_ACCESS_LINK_* value "
				 "(0..3)", fn, attr);
	/* Every link reaches host RAM the same way: nothing to change. */
	return fabric_from_key(fn, key, &f);
}

aclError aclrtIpcMemImportPidInterServer(const char *key, aclrtServerPid *serverPids, size_t num)
{
	static const char fn[] = "aclrtIpcMemImportPidInterServer";
	struct acl_share_fabric_handle f;
	size_t total;
	aclError ret;

	if (!key)
		return shim_fail(ACL_ERROR_RT_PARAM_INVALID, "%s: key is NULL", fn);
	ret = shim_check_server_pids(fn, serverPids, num, &total);
	if (ret)
		return ret;
	ret = fabric_from_key(fn, key, &f);
	if (ret)
		return ret;
	if (!shim_devmem_find_key(key, false))
		return shim_fail(ACL_ERROR_RT_INVALID_HANDLE,
				 "%s: key \"%s\" was not exported by this process (or closed)", fn, key);
	/*
	 * The kernel whitelists entries of this server as SetImportPid does,
	 * and keeps those of other servers for their imports over the fabric
	 * (contract section 8, docs/fabric.md).
	 */
	return shim_share_set_server_pids(fn, &f, serverPids, num);
}
