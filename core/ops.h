/* ops.h: the operations a caller may be granted on a vault or an object (DESIGN §5), as bits.
 * The policy decides them (policy/policy.h), the management requests name them
 * (core/request.h): one enum for both sides of the core/policy line, never a string. */
#pragma once

enum policy_op {
	POLICY_OP_LIST = 1u << 0,
	POLICY_OP_META = 1u << 1,
	POLICY_OP_READ = 1u << 2,
	POLICY_OP_WRITE = 1u << 3,
	POLICY_OP_DELETE = 1u << 4,
	POLICY_OP_RECOVER = 1u << 5,
	POLICY_OP_PURGE = 1u << 6,
	POLICY_OP_MANAGE = 1u << 7,
	POLICY_OP_SIGN = 1u << 8,
	POLICY_OP_VERIFY = 1u << 9,
	POLICY_OP_ENCRYPT = 1u << 10,
	POLICY_OP_DECRYPT = 1u << 11,
	POLICY_OP_WRAP = 1u << 12,
	POLICY_OP_UNWRAP = 1u << 13,
	POLICY_OP_ALL = (1u << 14) - 1,
};
