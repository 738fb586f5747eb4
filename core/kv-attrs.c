/* kv-attrs.c: the attributes of a version (enabled, dates, content type, tags): their checks,
 * the canonical form of tags, and what an info struct says of a row. Pure: no store, no keys,
 * never sees material. */
#include <ctype.h>
#include <stddef.h>

#include "kv-int.h"

/* --- attribute validation --- */

bool kv_text_ok(const char *s, size_t max, bool allow_empty)
{
	size_t n = strlen(s);

	if (n > max || (!allow_empty && n == 0))
		return false;
	for (size_t i = 0; i < n; i++)
		if (iscntrl((unsigned char)s[i]))
			return false;
	return true;
}

static int tag_cmp(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	size_t kx = strcspn(x, "="), ky = strcspn(y, "=");
	int c = memcmp(x, y, kx < ky ? kx : ky);

	return c ? c : (kx > ky) - (kx < ky);
}

/* "k=v" strings to the canonical form: sorted by key, one "k=v\n" each, no duplicate keys. */
int kv_tags_canonical(const char *const *tags, size_t n, char **ret)
{
	_cleanup_free_ const char **sorted = NULL;
	_cleanup_free_ char *out = NULL;
	size_t len = 0;

	if (n > VAULTFS_TAGS_MAX)
		return -EINVAL;
	sorted = calloc(n ? n : 1, sizeof(*sorted));
	if (!sorted)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(tags[i], '=');
		size_t k;

		if (!eq)
			return -EINVAL;
		k = (size_t)(eq - tags[i]);
		if (k == 0 || k > VAULTFS_TAG_KEY_MAX ||
		    !kv_text_ok(eq + 1, VAULTFS_TAG_VALUE_MAX, true))
			return -EINVAL;
		for (size_t j = 0; j < k; j++)
			if (iscntrl((unsigned char)tags[i][j]) ||
			    isspace((unsigned char)tags[i][j]))
				return -EINVAL;
		sorted[i] = tags[i];
		len += strlen(tags[i]) + 1;
	}
	qsort(sorted, n, sizeof(*sorted), tag_cmp);
	for (size_t i = 1; i < n; i++)
		if (tag_cmp(&sorted[i - 1], &sorted[i]) == 0)
			return -EINVAL;
	out = malloc(len + 1);
	if (!out)
		return -ENOMEM;
	out[0] = '\0';
	for (size_t i = 0, o = 0; i < n; i++) {
		size_t l = strlen(sorted[i]);

		memcpy(out + o, sorted[i], l);
		out[o + l] = '\n';
		o += l + 1;
		out[o] = '\0';
	}
	*ret = TAKE_PTR(out);
	return 0;
}

static bool time_ok(int64_t t)
{
	return t == KV_KEEP || t >= 0;
}

/* Apply attrs (KEEP fields untouched) to a version row, validating everything first. */
int kv_apply_attrs(struct store_version *v, const struct kv_attrs *a)
{
	_cleanup_free_ char *tags = NULL;
	int64_t nbf, exp;
	int r;

	if (a->enabled < -1 || a->enabled > 1 || !time_ok(a->not_before) || !time_ok(a->expires))
		return -EINVAL;
	if (a->content_type && !kv_text_ok(a->content_type, VAULTFS_CONTENT_TYPE_MAX, true))
		return -EINVAL;
	if (a->tags) {
		r = kv_tags_canonical(a->tags, a->n_tags, &tags);
		if (r < 0)
			return r;
	}
	nbf = a->not_before == KV_KEEP ? v->not_before : a->not_before;
	exp = a->expires == KV_KEEP ? v->expires : a->expires;
	if (nbf && exp && exp < nbf)
		return -EINVAL;

	if (a->enabled >= 0)
		v->enabled = a->enabled;
	v->not_before = nbf;
	v->expires = exp;
	if (a->content_type)
		str_copy(v->content_type, sizeof(v->content_type), a->content_type);
	if (tags) {
		free(v->tags);
		v->tags = TAKE_PTR(tags);
	}
	return 0;
}

/* The info is two strings of 5 KiB together after a few numbers, and is filled twice an
 * open(2) (its lookup's size, the open's version): the numbers are zeroed, each string is
 * written up to its NUL, not the whole of its room. These say the layout that relies on. */
_Static_assert(offsetof(struct kv_version_info, tags) ==
		       offsetof(struct kv_version_info, content_type) +
			       sizeof(((struct kv_version_info *)0)->content_type),
	       "kv_version_info: the strings sit together");
_Static_assert(offsetof(struct kv_version_info, size) -
			       (offsetof(struct kv_version_info, tags) +
				sizeof(((struct kv_version_info *)0)->tags)) <
		       _Alignof(size_t),
	       "kv_version_info: size follows the strings");
_Static_assert(offsetof(struct kv_version_info, size) + sizeof(size_t) ==
		       sizeof(struct kv_version_info),
	       "kv_version_info: size is the last member");

void kv_version_info_fill(const struct store_version *v, struct kv_version_info *ret)
{
	memset(ret, 0, offsetof(struct kv_version_info, content_type));
	ret->object_id = v->object_id;
	ret->version = v->version;
	ret->enabled = v->enabled;
	ret->not_before = v->not_before;
	ret->expires = v->expires;
	ret->created = v->created;
	ret->updated = v->updated;
	str_copy(ret->content_type, sizeof(ret->content_type), v->content_type);
	str_copy(ret->tags, sizeof(ret->tags), v->tags ? v->tags : "");
	ret->size = v->ciphertext_len >= CRYPTO_AEAD_OVERHEAD ?
			    v->ciphertext_len - CRYPTO_AEAD_OVERHEAD :
			    0;
}
