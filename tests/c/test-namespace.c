/* test-namespace.c - name and namespace validation, namespaces as separate
 * spaces, brain_namespaces, brain_ns_clear, the namespace table limit. */
#include "test.h"

/* Strings every name-taking function must refuse. */
static const char *bad_strings[] = {
    "",                 /* empty */
    "\x01",             /* control characters */
    "a\tb",
    "line\nfeed",
    "\x1f",
    "bad\xff",          /* not UTF-8 */
    "\xfe\xfe",
    "\x80",             /* lone continuation byte */
    "trunc\xc3",        /* truncated sequence */
    "\xe2\x82",
    "\xc0\xaf",         /* overlong '/' */
    "\xe0\x80\xaf",     /* overlong */
    "\xed\xa0\x80",     /* UTF-16 surrogate */
    "\xf4\x90\x80\x80", /* above U+10FFFF */
};
#define NBAD (sizeof bad_strings / sizeof *bad_strings)

static char *repeat(char c, size_t n)
{
    char *s = t_xmalloc(n + 1);
    memset(s, c, n);
    s[n] = 0;
    return s;
}

/* Every function taking (ns, name) refuses a bad one with CODE. */
static void check_refused(brain *b, const char *ns, const char *name, int code,
                          const char *what)
{
    brain_view view;
    memset(&view, 0, sizeof view);
    char buf[8];
    size_t n;
    brain_info in;
    brain_reservation *res = NULL;
    void *data = NULL;
    int rc;
#define CHECK(call)                                                            \
    do {                                                                       \
        rc = (call);                                                           \
        ASSERT_MSG(rc == code, "%s with %s: %s, expected %s", #call, what,     \
                   brain_errname(rc), brain_errname(code));                    \
        t_check_detail(__FILE__, __LINE__, #call, t_detail_copy());            \
    } while (0)
    CHECK(brain_put(b, ns, name, "v", 1, NULL, NULL));
    CHECK(brain_get(b, ns, name, &view));
    CHECK(brain_read(b, ns, name, buf, sizeof buf, &n, NULL));
    CHECK(brain_meta(b, ns, name, &in, NULL, 0));
    CHECK(brain_exists(b, ns, name));
    CHECK(brain_delete(b, ns, name));
    CHECK(brain_reserve(b, ns, name, 8, NULL, &res, &data));
    CHECK(brain_wait(b, ns, name, 0, 0, NULL));
    brain_item item = {ns, name, "v", 1, NULL};
    size_t failed = 99;
    CHECK(brain_put_many(b, 1, &item, NULL, &failed));
    ASSERT_EQ_U64(failed, 0);
    brain_key key = {ns, name};
    CHECK(brain_get_many(b, 1, &key, &view, &failed));
#undef CHECK
}

TEST(bad_names_refused_everywhere)
{
    brain *b = t_create(0, 0);
    ASSERT_OK(brain_put(b, NULL, "keep", "kept", 4, NULL, NULL));
    uint64_t used0 = t_used(b);
    char what[64];
    for (size_t i = 0; i < NBAD; i++) {
        snprintf(what, sizeof what, "bad name #%zu", i);
        check_refused(b, NULL, bad_strings[i], BRAIN_ENAME, what);
        check_refused(b, "ns", bad_strings[i], BRAIN_ENAME, what);
    }
    char *over = repeat('n', BRAIN_NAME_MAX + 1);
    check_refused(b, NULL, over, BRAIN_ENAME, "name of BRAIN_NAME_MAX+1");
    free(over);
    char *huge = repeat('h', 1 << 20);
    check_refused(b, NULL, huge, BRAIN_ENAME, "1 MB name");
    free(huge);
    /* a control character after valid multibyte text */
    check_refused(b, NULL, "\xc3\xa9\x7f\x05", BRAIN_ENAME, "é DEL ^E");

    char sb[16];
    size_t n;
    ASSERT_OK(brain_read(b, NULL, "keep", sb, sizeof sb, &n, NULL));
    ASSERT_MEM_EQ(sb, "kept", 4);
    ASSERT_EQ_U64(t_stats(b).names, 1);
    ASSERT_EQ_U64(t_used(b), used0);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(bad_namespaces_refused_everywhere)
{
    brain *b = t_create(0, 0);
    ASSERT_OK(brain_put(b, NULL, "keep", "kept", 4, NULL, NULL));
    char what[64];
    for (size_t i = 0; i < NBAD; i++) {
        snprintf(what, sizeof what, "bad namespace #%zu", i);
        check_refused(b, bad_strings[i], "name", BRAIN_ENAMESPACE, what);
        brain_list *l = NULL;
        ASSERT_ERR(brain_list_names(b, bad_strings[i], BRAIN_LIST_ONE_NS, &l),
                   BRAIN_ENAMESPACE);
        size_t removed;
        ASSERT_ERR(brain_ns_clear(b, bad_strings[i], &removed),
                   BRAIN_ENAMESPACE);
        ASSERT_ERR(brain_wait(b, bad_strings[i], NULL, 0, 0, NULL),
                   BRAIN_ENAMESPACE);
    }
    char *over = repeat('s', BRAIN_NS_MAX + 1);
    check_refused(b, over, "name", BRAIN_ENAMESPACE, "ns of BRAIN_NS_MAX+1");
    free(over);
    char *huge = repeat('s', 1 << 20);
    check_refused(b, huge, "name", BRAIN_ENAMESPACE, "1 MB namespace");
    free(huge);
    ASSERT_EQ_U64(t_stats(b).names, 1);
    ASSERT_EQ_U64(t_stats(b).namespaces, 1);
    t_destroy(b, 0);
}

/* brain_check_name: the same rules as every call, with no store, and the
 * rule broken and where; a NUL inside a counted string is refused. */
TEST(check_name_without_a_store)
{
    int rule = -1;
    size_t at = 99;
    ASSERT_OK(brain_check_name("caf\xc3\xa9 / x", 9, 0, &rule, &at));
    ASSERT_EQ_INT(rule, 0);
    ASSERT_OK(brain_check_name("ns", 2, 1, NULL, NULL));
    for (size_t i = 0; i < NBAD; i++) {
        const char *s = bad_strings[i];
        ASSERT_EQ_INT(brain_check_name(s, strlen(s), 0, &rule, &at), BRAIN_ENAME);
        ASSERT_EQ_INT(brain_check_name(s, strlen(s), 1, NULL, NULL), BRAIN_ENAMESPACE);
        ASSERT_MSG(rule == BRAIN_NAME_EMPTY || rule == BRAIN_NAME_CONTROL ||
                   rule == BRAIN_NAME_UTF8, "bad string #%zu: rule %d", i, rule);
    }
    ASSERT_EQ_INT(brain_check_name("", 0, 0, &rule, &at), BRAIN_ENAME);
    ASSERT_EQ_INT(rule, BRAIN_NAME_EMPTY);
    ASSERT_STR_CONTAINS(brain_errdetail(), "name is empty");
    ASSERT_EQ_INT(brain_check_name(NULL, 0, 0, &rule, &at), BRAIN_ENAME);
    ASSERT_EQ_INT(rule, BRAIN_NAME_EMPTY);
    ASSERT_EQ_INT(brain_check_name("a\0b", 3, 0, &rule, &at), BRAIN_ENAME);
    ASSERT_EQ_INT(rule, BRAIN_NAME_NUL);
    ASSERT_EQ_U64(at, 1);
    ASSERT_STR_CONTAINS(brain_errdetail(), "NUL character at byte 1");
    ASSERT_EQ_INT(brain_check_name("ok\x01", 3, 1, &rule, &at), BRAIN_ENAMESPACE);
    ASSERT_EQ_INT(rule, BRAIN_NAME_CONTROL);
    ASSERT_EQ_U64(at, 2);
    ASSERT_STR_CONTAINS(brain_errdetail(), "namespace contains control character 0x01 at byte 2");
    ASSERT_EQ_INT(brain_check_name("ok\xff", 3, 0, &rule, &at), BRAIN_ENAME);
    ASSERT_EQ_INT(rule, BRAIN_NAME_UTF8);
    ASSERT_STR_CONTAINS(brain_errdetail(), "name is not valid UTF-8");
    char *max = repeat('n', BRAIN_NAME_MAX + 1);
    ASSERT_OK(brain_check_name(max, BRAIN_NAME_MAX, 0, &rule, &at));
    ASSERT_EQ_INT(brain_check_name(max, BRAIN_NAME_MAX + 1, 0, &rule, &at), BRAIN_ENAME);
    ASSERT_EQ_INT(rule, BRAIN_NAME_TOO_LONG);
    ASSERT_EQ_U64(at, BRAIN_NAME_MAX + 1);
    ASSERT_STR_CONTAINS(brain_errdetail(), "name is 1025 bytes long; the limit is 1024 bytes");
    ASSERT_OK(brain_check_name(max, BRAIN_NS_MAX, 1, NULL, NULL));
    ASSERT_EQ_INT(brain_check_name(max, BRAIN_NS_MAX + 1, 1, &rule, NULL), BRAIN_ENAMESPACE);
    ASSERT_EQ_INT(rule, BRAIN_NAME_TOO_LONG);
    free(max);
}

TEST(names_at_limits_and_unicode)
{
    brain *b = t_create(0, 0);
    char *name = repeat('n', BRAIN_NAME_MAX);
    char *ns = repeat('s', BRAIN_NS_MAX);
    ASSERT_OK(brain_put(b, ns, name, "max", 3, NULL, NULL));
    ASSERT_EQ_INT(brain_exists(b, ns, name), 1);
    /* one character less is a different name */
    name[BRAIN_NAME_MAX - 1] = 0;
    ASSERT_EQ_INT(brain_exists(b, ns, name), 0);
    free(name);
    free(ns);

    const char *good[] = {
        "a/b/c", "with space", " leading", "trailing ", "caf\xc3\xa9",
        "\xe6\x97\xa5\xe6\x9c\xac", "\xf0\x9f\x98\x80",
        "quote\"'`", "100%", "x", "default",
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        ASSERT_OK(brain_put(b, NULL, good[i], &i, sizeof i, NULL, NULL));
        ASSERT_OK(brain_put(b, good[i], "n", &i, sizeof i, NULL, NULL));
    }
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        size_t v = 99, n;
        ASSERT_OK(brain_read(b, NULL, good[i], &v, sizeof v, &n, NULL));
        ASSERT_EQ_U64(v, i);
        ASSERT_OK(brain_read(b, good[i], "n", &v, sizeof v, &n, NULL));
        ASSERT_EQ_U64(v, i);
    }
    /* a multibyte name of exactly BRAIN_NAME_MAX bytes */
    char mb[BRAIN_NAME_MAX + 1];
    for (int i = 0; i < BRAIN_NAME_MAX; i += 2)
        memcpy(mb + i, "\xc3\xa9", 2);
    mb[BRAIN_NAME_MAX] = 0;
    ASSERT_OK(brain_put(b, NULL, mb, "e", 1, NULL, NULL));
    ASSERT_EQ_INT(brain_exists(b, NULL, mb), 1);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(namespaces_are_separate)
{
    brain *b = t_create(0, 0);
    ASSERT_OK(brain_put(b, NULL, "x", "default", 7, NULL, NULL));
    ASSERT_OK(brain_put(b, "one", "x", "one", 3, NULL, NULL));
    ASSERT_OK(brain_put(b, "two", "x", "two", 3, NULL, NULL));
    char buf[16];
    size_t n;
    ASSERT_OK(brain_read(b, "one", "x", buf, sizeof buf, &n, NULL));
    ASSERT_EQ_U64(n, 3);
    ASSERT_MEM_EQ(buf, "one", 3);
    ASSERT_OK(brain_read(b, "default", "x", buf, sizeof buf, &n, NULL));
    ASSERT_EQ_U64(n, 7);
    ASSERT_OK(brain_delete(b, "one", "x"));
    ASSERT_EQ_INT(brain_exists(b, "one", "x"), 0);
    ASSERT_EQ_INT(brain_exists(b, "two", "x"), 1);
    ASSERT_EQ_INT(brain_exists(b, NULL, "x"), 1);
    /* case matters */
    ASSERT_EQ_INT(brain_exists(b, "TWO", "x"), 0);
    ASSERT_EQ_INT(brain_exists(b, "two", "X"), 0);
    t_destroy(b, 0);
}

static brain_ns_info *find_ns(brain_ns_info *a, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(a[i].name, name) == 0)
            return &a[i];
    return NULL;
}

TEST(namespaces_listing_and_clear)
{
    brain *b = t_create(0, 0);
    brain_ns_info *nsi = NULL;
    size_t count = 0;
    ASSERT_OK(brain_namespaces(b, &nsi, &count));
    ASSERT_EQ_U64(count, 1);
    ASSERT_STR_EQ(nsi[0].name, "default");
    ASSERT_EQ_U64(nsi[0].names, 0);
    ASSERT_EQ_U64(nsi[0].bytes, 0);
    free(nsi);

    uint64_t last = 0;
    for (int i = 0; i < 10; i++) {
        char name[32];
        snprintf(name, sizeof name, "n%d", i);
        ASSERT_OK(brain_put(b, "alpha", name, "0123456789", (size_t)i, NULL,
                            &last));
    }
    ASSERT_OK(brain_put(b, "beta", "only", "xyz", 3, NULL, NULL));
    ASSERT_OK(brain_put(b, NULL, "d", "d", 1, NULL, NULL));
    ASSERT_OK(brain_namespaces(b, &nsi, &count));
    ASSERT_EQ_U64(count, 3);
    brain_ns_info *a = find_ns(nsi, count, "alpha");
    brain_ns_info *be = find_ns(nsi, count, "beta");
    brain_ns_info *d = find_ns(nsi, count, "default");
    ASSERT_NOT_NULL(a);
    ASSERT_NOT_NULL(be);
    ASSERT_NOT_NULL(d);
    ASSERT_EQ_U64(a->names, 10);
    ASSERT_EQ_U64(a->bytes, 45);
    ASSERT_EQ_U64(a->version, last);
    ASSERT_EQ_U64(be->names, 1);
    ASSERT_EQ_U64(be->bytes, 3);
    ASSERT_GT_U64(be->version, last);
    ASSERT_EQ_U64(d->names, 1);
    free(nsi);
    ASSERT_EQ_U64(t_stats(b).namespaces, 3);
    ASSERT_EQ_U64(t_stats(b).names, 12);

    size_t removed = 99;
    ASSERT_OK(brain_ns_clear(b, "alpha", &removed));
    ASSERT_EQ_U64(removed, 10);
    for (int i = 0; i < 10; i++) {
        char name[32];
        snprintf(name, sizeof name, "n%d", i);
        ASSERT_EQ_INT(brain_exists(b, "alpha", name), 0);
    }
    ASSERT_EQ_INT(brain_exists(b, "beta", "only"), 1);
    ASSERT_EQ_INT(brain_exists(b, NULL, "d"), 1);
    ASSERT_OK(brain_namespaces(b, &nsi, &count));
    ASSERT_EQ_U64(count, 2);
    ASSERT_NULL(find_ns(nsi, count, "alpha"));
    free(nsi);
    /* clearing nothing is fine */
    removed = 99;
    ASSERT_OK(brain_ns_clear(b, "alpha", &removed));
    ASSERT_EQ_U64(removed, 0);
    ASSERT_OK(brain_ns_clear(b, "never-existed", NULL));
    /* the default namespace by NULL */
    ASSERT_OK(brain_ns_clear(b, NULL, &removed));
    ASSERT_EQ_U64(removed, 1);
    ASSERT_EQ_INT(brain_exists(b, NULL, "d"), 0);
    ASSERT_OK(brain_namespaces(b, &nsi, &count));
    ASSERT_EQ_U64(count, 2); /* default always listed */
    ASSERT_NOT_NULL(find_ns(nsi, count, "default"));
    free(nsi);
    ASSERT_ERR(brain_namespaces(b, NULL, &count), BRAIN_EINVAL);
    ASSERT_ERR(brain_namespaces(b, &nsi, NULL), BRAIN_EINVAL);
    ASSERT_ERR(brain_namespaces(NULL, &nsi, &count), BRAIN_EINVAL);
    ASSERT_ERR(brain_ns_clear(NULL, "x", NULL), BRAIN_EINVAL);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(namespace_table_full)
{
    brain_config cfg = {.max_namespaces = 4};
    brain *b = t_create_cfg(0, &cfg);
    ASSERT_OK(brain_put(b, NULL, "d", "d", 1, NULL, NULL));
    int made = 0, rc = 0;
    char ns[32];
    for (int i = 0; i < 10; i++) {
        snprintf(ns, sizeof ns, "ns%d", i);
        rc = brain_put(b, ns, "x", &i, sizeof i, NULL, NULL);
        if (rc != 0)
            break;
        made++;
    }
    ASSERT_MSG(rc == BRAIN_ENSFULL, "the 5th namespace: %s",
               brain_errname(rc));
    ASSERT(made == 3 || made == 4); /* "default" may or may not count */
    t_check_detail(__FILE__, __LINE__, "ENSFULL", t_detail_copy());
    /* existing namespaces still take names */
    ASSERT_OK(brain_put(b, "ns0", "y", "y", 1, NULL, NULL));
    ASSERT_OK(brain_put(b, NULL, "e", "e", 1, NULL, NULL));
    for (int i = 0; i < made; i++) {
        snprintf(ns, sizeof ns, "ns%d", i);
        int v = -1;
        size_t n;
        ASSERT_OK(brain_read(b, ns, "x", &v, sizeof v, &n, NULL));
        ASSERT_EQ_INT(v, i);
    }
    /* an emptied namespace frees its place */
    ASSERT_OK(brain_ns_clear(b, "ns1", NULL));
    ASSERT_OK(brain_put(b, "newcomer", "x", "n", 1, NULL, NULL));
    ASSERT_ERR(brain_put(b, "another", "x", "n", 1, NULL, NULL),
               BRAIN_ENSFULL);
    /* deleting the last name also frees it */
    ASSERT_OK(brain_delete(b, "newcomer", "x"));
    ASSERT_OK(brain_put(b, "another", "x", "n", 1, NULL, NULL));
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(many_namespaces)
{
    brain_config cfg = {.max_namespaces = 4096};
    brain *b = t_create_cfg(0, &cfg);
    int n = T_SCALE(3000, 3);
    for (int i = 0; i < n; i++) {
        char ns[32];
        snprintf(ns, sizeof ns, "space-%d", i);
        ASSERT_OK(brain_put(b, ns, "a", &i, sizeof i, NULL, NULL));
        if (i % 3 == 0)
            ASSERT_OK(brain_put(b, ns, "b", &i, sizeof i, NULL, NULL));
    }
    brain_ns_info *nsi = NULL;
    size_t count = 0;
    ASSERT_OK(brain_namespaces(b, &nsi, &count));
    ASSERT_EQ_U64(count, (uint64_t)n + 1);
    for (size_t i = 0; i < count; i++) {
        int k = -1;
        if (strcmp(nsi[i].name, "default") == 0)
            continue;
        ASSERT_EQ_INT(sscanf(nsi[i].name, "space-%d", &k), 1);
        ASSERT_EQ_U64(nsi[i].names, k % 3 == 0 ? 2 : 1);
        ASSERT_EQ_U64(nsi[i].bytes, nsi[i].names * sizeof(int));
    }
    free(nsi);
    ASSERT_EQ_U64(t_stats(b).namespaces, (uint64_t)n + 1);
    for (int i = 0; i < n; i += 2) {
        char ns[32];
        snprintf(ns, sizeof ns, "space-%d", i);
        size_t removed = 0;
        ASSERT_OK(brain_ns_clear(b, ns, &removed));
        ASSERT_EQ_U64(removed, i % 3 == 0 ? 2 : 1);
    }
    ASSERT_EQ_U64(t_stats(b).namespaces, (uint64_t)(n / 2) + 1);
    brain_list *l = NULL;
    ASSERT_OK(brain_list_names(b, NULL, BRAIN_LIST_ALL_NS, &l));
    for (size_t i = 0; i < l->count; i++) {
        int k = -1;
        ASSERT_EQ_INT(sscanf(l->items[i].ns, "space-%d", &k), 1);
        ASSERT_EQ_INT(k % 2, 1);
    }
    brain_list_free(l);
    t_check_store(b);
    t_destroy(b, 0);
}
