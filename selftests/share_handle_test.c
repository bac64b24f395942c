// SPDX-License-Identifier: GPL-2.0
/*
 * Shareable handles (contract 4.1, 4.2):
 *  - they are unguessable: random 64-bit keys, not a counter, not the pid,
 *    and a FABRIC handle carries a random secret;
 *  - FABRIC handles go through the same whitelist and lifetime rules as
 *    DEFAULT ones (every rule test runs for both kinds);
 *  - every refusal says which rule refused it (aclGetRecentErrMsg()).
 *
 * Two real processes: the test process exports, a fork()ed child (a fresh
 * library instance after fork()) imports.
 */
#include <ctype.h>
#include <stddef.h>

#include "acl/acl.h"
#include <linux/acl_share.h>
#include "acl_test_util.h"
#include "share_util.h"

#define NR_KEYS 64
#define BIT32 (1ULL << 32)

_Static_assert(sizeof(struct acl_share_fabric_handle) == sizeof(aclrtMemFabricHandle),
	       "FABRIC handle layout");

/* The 64-bit key inside a shareable handle of either kind. */
static uint64_t share_key(const struct share_token *t)
{
	uint64_t key;

	if (t->type == ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT)
		return t->key;
	memcpy(&key, t->fabric.data + offsetof(struct acl_share_fabric_handle, key), sizeof(key));
	return key;
}

/* @msg holds the decimal number @n as a word of its own (not inside a hex value). */
static bool msg_has_number(const char *msg, long n)
{
	char num[24];
	size_t len;

	len = (size_t)snprintf(num, sizeof(num), "%ld", n);
	for (const char *p = msg; (p = strstr(p, num)); p++) {
		bool start = p == msg || !isalnum((unsigned char)p[-1]);
		bool end = !isalnum((unsigned char)p[len]);

		if (start && end)
			return true;
	}
	return false;
}

/* In a child: @call fails with @code and its message names one of @words. */
#define CHILD_REFUSED(call, code, words)                                           \
	do {                                                                       \
		aclError __e = (call);                                             \
		const char *__m = aclGetRecentErrMsg();                            \
		CHILD_CHECK(__e == (aclError)(code), "%s gave %d, want %d: %s", #call, \
			    __e, (int)(code), __e && __m ? __m : "(no message)");  \
		CHILD_CHECK(__m && acl_msg_names(__m, (words)),                    \
			    "the message of %s does not name '%s': %s", #call,      \
			    (words), __m ? __m : "(no message)");                  \
	} while (0)

/* ------------------------------------------------------------------ */
/* Unguessable handles                                                */
/* ------------------------------------------------------------------ */

FIXTURE(handles) {
	struct share_exporter x;
	struct share_token tok;
	int32_t me, child_tgid;
};

FIXTURE_SETUP(handles)
{
	share_exporter_setup(_metadata, &self->x);
	ASSERT_ACL_OK(aclrtDeviceGetBareTgid(&self->me));
	ASSERT_LT(0, self->me);
}

FIXTURE_TEARDOWN(handles)
{
	share_exporter_teardown(_metadata, &self->x);
}

/*
 * 64 DEFAULT keys of one process look random: distinct, never 0, not the
 * exporter's tgid, not small, far apart (a counter, even with a random
 * start, gives neighbours), and together they vary in nearly every bit.
 */
TEST_F(handles, default_keys_unguessable)
{
	aclrtPhysicalMemProp prop = acl_prop(ACL_MEM_NORMAL, ACL_MEM_LOCATION_TYPE_HOST, 0);
	aclrtDrvMemHandle h[NR_KEYS];
	uint64_t key[NR_KEYS], spread = 0;
	int n, small = 0, near = 0, ci = 0, cj = 0;
	char why[256] = "";

	for (n = 0; n < NR_KEYS; n++) {
		aclError e = aclrtMallocPhysical(&h[n], acl_page_size(), &prop, 0);

		if (!e) {
			e = aclrtMemExportToShareableHandle(h[n], ACL_MEM_HANDLE_TYPE_NONE,
							    ACL_RT_VMM_EXPORT_FLAG_DEFAULT,
							    &key[n]);
			if (e)
				aclrtFreePhysical(h[n]);
		}
		if (e) {
			snprintf(why, sizeof(why), "%d: %s", e, aclGetRecentErrMsg());
			break;
		}
	}
	EXPECT_COUNTER_DELTA(self->x.start, ACL_CNT_EXPORTS, n);
	for (int i = 0; i < n; i++)
		EXPECT_ACL_OK(aclrtFreePhysical(h[i]));
	ASSERT_EQ(NR_KEYS, n) TH_LOG("export %d failed: %s", n, why);

	for (int i = 0; i < NR_KEYS; i++) {
		EXPECT_NE((uint64_t)0, key[i]);
		EXPECT_NE((uint64_t)self->me, key[i]) TH_LOG("key %d is the exporter's tgid", i);
		if (key[i] < BIT32)
			small++;
		/* Distinct, and at least 2^32 apart (so also never equal). */
		for (int j = 0; j < i; j++) {
			uint64_t d = key[i] > key[j] ? key[i] - key[j] : key[j] - key[i];

			if (d < BIT32 && !near++) {
				cj = j;
				ci = i;
			}
		}
		if (i)
			spread |= key[i] ^ key[i - 1];
	}
	EXPECT_EQ(0, near) TH_LOG("%d pairs of keys closer than 2^32, e.g. %d and %d: 0x%016"
				   PRIx64 " 0x%016" PRIx64, near, cj, ci, key[cj], key[ci]);
	EXPECT_GE(1, small) TH_LOG("%d of %d keys are below 2^32", small, NR_KEYS);
	EXPECT_LE(56, __builtin_popcountll(spread))
		TH_LOG("consecutive keys differ only in the bits 0x%016" PRIx64, spread);
}

/*
 * With validation off anybody may import, so only the key protects the
 * memory: its neighbours, the exporter's tgid and small numbers find
 * nothing; the real key works.
 */
TEST_F(handles, neighbours_of_a_key_refused)
{
	ASSERT_ACL_OK(share_export(self->x.m.handle, ACL_RT_VMM_EXPORT_FLAG_DISABLE_PID_VALIDATION,
				   ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT, &self->tok));
	/* None of the guesses below is the key itself. */
	ASSERT_LT((uint64_t)64, self->tok.key);
	ASSERT_NE((uint64_t)self->me, self->tok.key);
	SHARE_FORK();
	if (self->x.child == 0) {
		uint64_t real = self->tok.key, guess[4 + 64];
		struct acl_mapping m;
		int n = 0;

		guess[n++] = real + 1;
		guess[n++] = real - 1;
		guess[n++] = real ^ 1;
		guess[n++] = (uint64_t)self->me;
		for (uint64_t v = 1; v <= 64; v++)
			guess[n++] = v;
		for (int i = 0; i < n; i++) {
			aclrtDrvMemHandle h;
			aclError e;

			e = aclrtMemImportFromShareableHandle(guess[i], 0, &h);
			CHILD_CHECK(e == ACL_ERROR_RT_INVALID_HANDLE,
				    "guess 0x%" PRIx64 " (key 0x%" PRIx64 ") gave %d", guess[i],
				    real, e);
		}
		share_child_import_map(&self->tok, &m);
		CHILD_CHECK(acl_map_delete(&m) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
		_exit(0);
	}
	ASSERT_EQ(0, acl_tell(&self->x.ch, 'g'));
	CHILD_DONE();
	EXPECT_COUNTER_DELTA(self->x.start, ACL_CNT_IMPORTS, 0);
}

/* Two FABRIC handles of one process: random, distinct secrets. */
TEST_F(handles, fabric_secrets_differ)
{
	aclrtPhysicalMemProp prop = acl_prop(ACL_MEM_NORMAL, ACL_MEM_LOCATION_TYPE_HOST, 0);
	static const uint8_t zero[sizeof(((struct acl_share_fabric_handle *)0)->secret)];
	struct acl_share_fabric_handle f[2];
	struct share_token t[2];
	aclrtDrvMemHandle h[2];
	aclError e[2];
	int bits = 0;

	for (int i = 0; i < 2; i++)
		ASSERT_ACL_OK(aclrtMallocPhysical(&h[i], acl_page_size(), &prop, 0));
	for (int i = 0; i < 2; i++)
		e[i] = share_export(h[i], 0, ACL_MEM_SHARE_HANDLE_TYPE_FABRIC, &t[i]);
	for (int i = 0; i < 2; i++)
		EXPECT_ACL_OK(aclrtFreePhysical(h[i]));
	ASSERT_EQ(ACL_SUCCESS, e[0]);
	ASSERT_EQ(ACL_SUCCESS, e[1]);

	for (int i = 0; i < 2; i++) {
		memcpy(&f[i], t[i].fabric.data, sizeof(f[i]));
		EXPECT_NE(0, memcmp(f[i].secret, zero, sizeof(zero)))
			TH_LOG("handle %d has an all-zero secret", i);
	}
	EXPECT_NE(f[0].key, f[1].key);
	for (size_t b = 0; b < sizeof(zero); b++)
		bits += __builtin_popcount(f[0].secret[b] ^ f[1].secret[b]);
	/* Random secrets differ in about 64 of their 128 bits. */
	EXPECT_LE(32, bits) TH_LOG("the two secrets differ in %d bits only", bits);
}

/* V1 export with flags 2: 107000, and the allocation can still be exported. */
TEST_F(handles, v1_export_flags_2)
{
	EXPECT_ACL(ACL_ERROR_RT_PARAM_INVALID,
		   aclrtMemExportToShareableHandle(self->x.m.handle, ACL_MEM_HANDLE_TYPE_NONE, 2,
						   &self->tok.key),
		   "flags");
	EXPECT_COUNTER_DELTA(self->x.start, ACL_CNT_EXPORTS, 0);
	EXPECT_ACL_OK(aclrtMemExportToShareableHandle(self->x.m.handle, ACL_MEM_HANDLE_TYPE_NONE,
						      ACL_RT_VMM_EXPORT_FLAG_DEFAULT,
						      &self->tok.key));
	EXPECT_COUNTER_DELTA(self->x.start, ACL_CNT_EXPORTS, 1);
}

/* V2 SetPid with shareType 3: 107000, and it whitelisted nobody. */
TEST_F(handles, v2_set_pid_share_type_3)
{
	ASSERT_ACL_OK(share_export(self->x.m.handle, 0, ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT,
				   &self->tok));
	SHARE_FORK();
	if (self->x.child == 0) {
		aclrtDrvMemHandle h;
		aclError e;

		CHILD_REFUSED(share_import(&self->tok, &h), ACL_ERROR_RT_DRV_INTERNAL_ERROR,
			      "whitelist");
		CHILD_CHECK(acl_tell(&self->x.ch, 'r') == 0, "tell");
		CHILD_CHECK(acl_hear(&self->x.ch, 'p') == 0, "hear");
		e = share_import(&self->tok, &h);
		CHILD_CHECK(e == ACL_SUCCESS, "import: %d %s", e, aclGetRecentErrMsg());
		CHILD_CHECK(aclrtFreePhysical(h) == ACL_SUCCESS, "free");
		_exit(0);
	}
	EXPECT_ACL(ACL_ERROR_RT_PARAM_INVALID,
		   aclrtMemSetPidToShareableHandleV2(&self->tok.key, (aclrtMemSharedHandleType)3,
						     &self->child_tgid, 1),
		   "shareType");
	ASSERT_EQ(0, acl_tell(&self->x.ch, 'g'));
	ASSERT_EQ(0, acl_hear(&self->x.ch, 'r'));
	ASSERT_ACL_OK(share_set_pid(&self->tok, self->child_tgid));
	ASSERT_EQ(0, acl_tell(&self->x.ch, 'p'));
	CHILD_DONE();
}

/* ------------------------------------------------------------------ */
/* The rules, for both kinds, and what the refusals say               */
/* ------------------------------------------------------------------ */

FIXTURE(rules) {
	struct share_exporter x;
	struct share_token tok;
	int32_t me, child_tgid;
};

FIXTURE_VARIANT(rules) {
	aclrtMemSharedHandleType type;
};

FIXTURE_VARIANT_ADD(rules, default) { .type = ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT };
FIXTURE_VARIANT_ADD(rules, fabric) { .type = ACL_MEM_SHARE_HANDLE_TYPE_FABRIC };

FIXTURE_SETUP(rules)
{
	share_exporter_setup(_metadata, &self->x);
	ASSERT_ACL_OK(aclrtDeviceGetBareTgid(&self->me));
}

FIXTURE_TEARDOWN(rules)
{
	share_exporter_teardown(_metadata, &self->x);
}

/* Validation off: SetPid → 207006 ("validation" is off), anybody imports. */
TEST_F(rules, set_pid_after_disable_pid_validation)
{
	ASSERT_ACL_OK(share_export(self->x.m.handle, ACL_RT_VMM_EXPORT_FLAG_DISABLE_PID_VALIDATION,
				   variant->type, &self->tok));
	SHARE_FORK();
	if (self->x.child == 0) {
		struct acl_mapping m;

		share_child_import_map(&self->tok, &m);
		CHILD_CHECK(acl_map_delete(&m) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
		_exit(0);
	}
	EXPECT_ACL(ACL_ERROR_RT_NO_PERMISSION, share_set_pid(&self->tok, self->child_tgid),
		   "PID_VALIDATION|pid validation");
	ASSERT_EQ(0, acl_tell(&self->x.ch, 'g'));
	CHILD_DONE();
}

/* Another process's SetPid → 507899 ("did not export"), and it added nobody. */
TEST_F(rules, set_pid_by_other_process)
{
	ASSERT_ACL_OK(share_export(self->x.m.handle, 0, variant->type, &self->tok));
	SHARE_FORK();
	if (self->x.child == 0) {
		aclrtDrvMemHandle h;
		int32_t me = 0;

		CHILD_CHECK(aclrtDeviceGetBareTgid(&me) == ACL_SUCCESS, "tgid");
		CHILD_REFUSED(share_set_pid(&self->tok, me), ACL_ERROR_RT_DRV_INTERNAL_ERROR,
			      "did not export|only the exporter");
		CHILD_REFUSED(share_import(&self->tok, &h), ACL_ERROR_RT_DRV_INTERNAL_ERROR,
			      "whitelist");
		_exit(0);
	}
	ASSERT_EQ(0, acl_tell(&self->x.ch, 'g'));
	CHILD_DONE();
	EXPECT_COUNTER_DELTA(self->x.start, ACL_CNT_IMPORTS, 0);
}

/*
 * The exporter importing its own handle → 507899 ("itself"): whitelisted,
 * and with validation off.
 */
TEST_F(rules, exporter_imports_own_handle)
{
	aclrtPhysicalMemProp prop = acl_prop(ACL_MEM_NORMAL, ACL_MEM_LOCATION_TYPE_HOST, 0);
	struct share_token open_tok;
	aclrtDrvMemHandle h = NULL, h2;

	ASSERT_ACL_OK(share_export(self->x.m.handle, 0, variant->type, &self->tok));
	ASSERT_ACL_OK(share_set_pid(&self->tok, self->me));
	EXPECT_ACL(ACL_ERROR_RT_DRV_INTERNAL_ERROR, share_import(&self->tok, &h), "itself");

	ASSERT_ACL_OK(aclrtMallocPhysical(&h2, acl_page_size(), &prop, 0));
	EXPECT_ACL_OK(share_export(h2, ACL_RT_VMM_EXPORT_FLAG_DISABLE_PID_VALIDATION,
				   variant->type, &open_tok));
	EXPECT_ACL(ACL_ERROR_RT_DRV_INTERNAL_ERROR, share_import(&open_tok, &h), "itself");
	EXPECT_COUNTER_DELTA(self->x.start, ACL_CNT_IMPORTS, 0);
	EXPECT_ACL_OK(aclrtFreePhysical(h2));
}

/* A second live import → 107017 ("already"); after freeing the first it works. */
TEST_F(rules, second_live_import_then_again_after_free)
{
	ASSERT_ACL_OK(share_export(self->x.m.handle, 0, variant->type, &self->tok));
	SHARE_FORK();
	if (self->x.child == 0) {
		aclrtDrvMemHandle h1, h2;
		struct acl_mapping m;
		aclError e;

		e = share_import(&self->tok, &h1);
		CHILD_CHECK(e == ACL_SUCCESS, "%d %s", e, aclGetRecentErrMsg());
		CHILD_REFUSED(share_import(&self->tok, &h2), ACL_ERROR_RT_INVALID_HANDLE,
			      "already");
		CHILD_CHECK(aclrtFreePhysical(h1) == ACL_SUCCESS, "free");
		share_child_import_map(&self->tok, &m);
		CHILD_CHECK(acl_map_delete(&m) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
		_exit(0);
	}
	ASSERT_ACL_OK(share_set_pid(&self->tok, self->child_tgid));
	ASSERT_EQ(0, acl_tell(&self->x.ch, 'g'));
	CHILD_DONE();
}

/*
 * The exporter frees: the shareable handle is revoked (107017, "revoked",
 * naming the key) for SetPid and new imports, while the importer's mapping
 * still reads the data.
 */
TEST_F(rules, revoked_when_exporter_frees)
{
	ASSERT_ACL_OK(share_export(self->x.m.handle, 0, variant->type, &self->tok));
	SHARE_FORK();
	if (self->x.child == 0) {
		struct acl_mapping m;
		aclrtDrvMemHandle h;
		char hex[24];

		share_child_import_map(&self->tok, &m);
		CHILD_CHECK(acl_tell(&self->x.ch, 'm') == 0, "tell");
		CHILD_CHECK(acl_hear(&self->x.ch, 'f') == 0, "hear");
		CHILD_CHECK(share_check(m.va, SHARE_SIZE) == SHARE_SIZE, "pattern after revoke");
		/* Without a live import of its own, so 107017 can only mean "revoked". */
		CHILD_CHECK(aclrtFreePhysical(m.handle) == ACL_SUCCESS, "free import");
		CHILD_REFUSED(share_import(&self->tok, &h), ACL_ERROR_RT_INVALID_HANDLE, "revoked");
		snprintf(hex, sizeof(hex), "%" PRIx64, share_key(&self->tok));
		CHILD_CHECK(acl_msg_names(aclGetRecentErrMsg(), hex),
			    "the message does not name the key %s: %s", hex, aclGetRecentErrMsg());
		CHILD_CHECK(share_check(m.va, SHARE_SIZE) == SHARE_SIZE, "pattern after import");
		CHILD_CHECK(aclrtUnmapMem(m.va) == ACL_SUCCESS, "unmap");
		CHILD_CHECK(aclrtReleaseMemAddress(m.va) == ACL_SUCCESS, "release");
		_exit(0);
	}
	ASSERT_ACL_OK(share_set_pid(&self->tok, self->child_tgid));
	ASSERT_EQ(0, acl_tell(&self->x.ch, 'g'));
	ASSERT_EQ(0, acl_hear(&self->x.ch, 'm'));
	ASSERT_ACL_OK(acl_map_delete(&self->x.m));
	self->x.m.handle = NULL;
	/* The importer's handle and mapping keep the memory. */
	EXPECT_COUNTER_DELTA(self->x.start, ACL_CNT_ALLOCATIONS, 1);
	EXPECT_COUNTER_DELTA(self->x.start, ACL_CNT_EXPORTS, 0);
	EXPECT_ACL(ACL_ERROR_RT_INVALID_HANDLE, share_set_pid(&self->tok, self->child_tgid),
		   "revoked");
	ASSERT_EQ(0, acl_tell(&self->x.ch, 'f'));
	CHILD_DONE();
}

/* SetPid with a dead pid → 107000; the message says so and names the pid. */
TEST_F(rules, dead_pid_named)
{
	pid_t dead;
	const char *msg;

	ASSERT_ACL_OK(share_export(self->x.m.handle, 0, variant->type, &self->tok));
	dead = share_dead_pid();
	ASSERT_LT(0, dead);
	EXPECT_ACL(ACL_ERROR_RT_PARAM_INVALID, share_set_pid(&self->tok, dead),
		   "live process|dead");
	msg = aclGetRecentErrMsg();
	ASSERT_NE(NULL, msg);
	EXPECT_TRUE(msg_has_number(msg, dead)) TH_LOG("pid %d not named: %s", dead, msg);
}

TEST_HARNESS_MAIN
