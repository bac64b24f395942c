// SPDX-License-Identifier: GPL-2.0
/*
 * Forged shareable handles: random DEFAULT values and FABRIC handles with
 * one bit flipped find nothing (107017), a FABRIC handle naming another
 * server gives 207000, and none of it disturbs the real export.
 */
#include "acl/acl.h"
#include "acl_test_util.h"
#include "share_util.h"

#define RANDOM_TRIES 100000

FIXTURE(forge) {
	struct share_exporter x;
	struct share_token tok;
};

FIXTURE_SETUP(forge)
{
	share_exporter_setup(_metadata, &self->x);
}

FIXTURE_TEARDOWN(forge)
{
	share_exporter_teardown(_metadata, &self->x);
}

/* Runs the statements in a whitelisted importer; returns after it exited 0. */
#define RUN_IMPORTER(...)                                                      \
	do {                                                                   \
		int32_t tgid = 0;                                              \
		self->x.child = fork();                                          \
		ASSERT_LE(0, self->x.child);                                     \
		if (self->x.child == 0) {                                        \
			acl_chan_child(&self->x.ch);                             \
			share_child_hello(&self->x.ch);                          \
			CHILD_CHECK(acl_hear(&self->x.ch, 'g') == 0, "hear");    \
			__VA_ARGS__;                                                \
			_exit(0);                                              \
		}                                                              \
		acl_chan_parent(&self->x.ch);                                    \
		ASSERT_EQ(0, acl_recv_val(&self->x.ch, &tgid, sizeof(tgid)));    \
		ASSERT_ACL_OK(share_set_pid(&self->tok, tgid));                \
		ASSERT_EQ(0, acl_tell(&self->x.ch, 'g'));                        \
		ASSERT_CHILD_OK(self->x.child);                                  \
		self->x.child = -1;                                              \
	} while (0)

static void random_imports(const struct share_token *real)
{
	uint64_t keys[1024];
	int refused = 0;

	for (int done = 0; done < RANDOM_TRIES; done += 1024) {
		CHILD_CHECK(getrandom(keys, sizeof(keys), 0) == sizeof(keys), "getrandom");
		for (int i = 0; i < 1024 && done + i < RANDOM_TRIES; i++) {
			aclrtDrvMemHandle h;
			aclError e;

			if (keys[i] == real->key)
				continue;
			e = aclrtMemImportFromShareableHandle(keys[i], 0, &h);
			CHILD_CHECK(e == ACL_ERROR_RT_INVALID_HANDLE,
				    "random handle 0x%016" PRIx64 " gave %d", keys[i], e);
			refused++;
		}
	}
	CHILD_CHECK(refused >= RANDOM_TRIES - 1, "only %d tries", refused);
}

/* 100,000 random 64-bit values from a whitelisted process: all 107017. */
TEST_F(forge, random_default_handles)
{
	struct share_token *tok = &self->tok;

	ASSERT_ACL_OK(share_export(self->x.m.handle, 0, ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT, tok));
	RUN_IMPORTER({
		struct acl_mapping m;

		random_imports(tok);
		/* The real one still works after all that. */
		share_child_import_map(tok, &m);
		CHILD_CHECK(acl_map_delete(&m) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
	});
	EXPECT_COUNTER_DELTA(self->x.start, ACL_CNT_IMPORTS, 0);
}

/* The byte range of the server id inside a FABRIC handle (uapi layout). */
#define FABRIC_SERVER_ID_OFF 8
#define FABRIC_SERVER_ID_END 12

static void flipped_fabric_imports(const struct share_token *real)
{
	for (int bit = 0; bit < 128 * 8; bit++) {
		struct share_token t = *real;
		int byte = bit / 8;
		aclrtDrvMemHandle h;
		aclError want, e;

		t.fabric.data[byte] ^= 1u << (bit % 8);
		want = byte >= FABRIC_SERVER_ID_OFF && byte < FABRIC_SERVER_ID_END ?
		       ACL_ERROR_RT_FEATURE_NOT_SUPPORT : ACL_ERROR_RT_INVALID_HANDLE;
		e = share_import(&t, &h);
		CHILD_CHECK(e == want, "bit %d (byte %d) flipped: %d, want %d", bit, byte, e,
			    want);
	}
}

/* Every one of the 1024 bits of a FABRIC handle is checked. */
TEST_F(forge, bit_flipped_fabric_handles)
{
	struct share_token *tok = &self->tok;

	ASSERT_ACL_OK(share_export(self->x.m.handle, 0, ACL_MEM_SHARE_HANDLE_TYPE_FABRIC, tok));
	RUN_IMPORTER({
		struct acl_mapping m;

		flipped_fabric_imports(tok);
		share_child_import_map(tok, &m);
		CHILD_CHECK(acl_map_delete(&m) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
	});
}

/* Another server's FABRIC handle: 207000 here, where no fabric module is loaded. */
TEST_F(forge, fabric_of_another_server)
{
	struct share_token *tok = &self->tok;

	ASSERT_ACL_OK(share_export(self->x.m.handle, 0, ACL_MEM_SHARE_HANDLE_TYPE_FABRIC, tok));
	RUN_IMPORTER({
		struct share_token t = *tok;
		aclrtDrvMemHandle h;
		uint32_t server;
		aclError e;

		memcpy(&server, t.fabric.data + FABRIC_SERVER_ID_OFF, sizeof(server));
		server++;
		memcpy(t.fabric.data + FABRIC_SERVER_ID_OFF, &server, sizeof(server));
		e = share_import(&t, &h);
		CHILD_CHECK(e == ACL_ERROR_RT_FEATURE_NOT_SUPPORT, "import gave %d", e);
		e = share_set_pid(&t, 1);
		CHILD_CHECK(e == ACL_ERROR_RT_FEATURE_NOT_SUPPORT, "SetPid gave %d", e);
	});
}

/* A DEFAULT value taken from a FABRIC handle is not a DEFAULT handle. */
TEST_F(forge, fabric_key_as_default_handle)
{
	struct share_token *tok = &self->tok;

	ASSERT_ACL_OK(share_export(self->x.m.handle, 0, ACL_MEM_SHARE_HANDLE_TYPE_FABRIC, tok));
	RUN_IMPORTER({
		uint64_t key;
		aclrtDrvMemHandle h;
		aclError e;

		memcpy(&key, tok->fabric.data + 16, sizeof(key));
		e = aclrtMemImportFromShareableHandle(key, 0, &h);
		CHILD_CHECK(e == ACL_ERROR_RT_INVALID_HANDLE, "import gave %d", e);
	});
}

TEST_HARNESS_MAIN
