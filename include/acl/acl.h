/* SPDX-License-Identifier: MIT */
/* acl.h - the AscendCL API subset implemented by libacl-shim. */
#ifndef ACL_SHIM_ACL_H
#define ACL_SHIM_ACL_H

#include "acl_base.h"
#include "acl_rt.h"

#endif /* ACL_SHIM_ACL_H */
