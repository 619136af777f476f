/* test-list.c - brain_list_names and brain_list_free. */
#include "test.h"

static const brain_info *find(const brain_list *l, const char *ns,
                              const char *name)
{
    for (size_t i = 0; i < l->count; i++)
        if (strcmp(l->items[i].name, name) == 0 &&
            (ns == NULL || strcmp(l->items[i].ns, ns) == 0))
            return &l->items[i];
    return NULL;
}

TEST(list_one_namespace)
{
    brain *b = t_create(0, 0);
    brain_list *l = NULL;
    ASSERT_OK(brain_list_names(b, NULL, BRAIN_LIST_ONE_NS, &l));
    ASSERT_NOT_NULL(l);
    ASSERT_EQ_U64(l->count, 0);
    brain_list_free(l);

    uint64_t vers[20];
    brain_put_opts o = {.type = BRAIN_TYPE_STR, .desc = "seventh"};
    for (int i = 0; i < 20; i++) {
        char name[32];
        snprintf(name, sizeof name, "name-%02d", i);
        ASSERT_OK(brain_put(b, "ns", name, "abcdefghijklmnopqrstuvwxyz",
                            (size_t)i + 1, i == 7 ? &o : NULL, &vers[i]));
    }
    ASSERT_OK(brain_put(b, NULL, "elsewhere", "x", 1, NULL, NULL));
    ASSERT_OK(brain_put(b, "ns2", "name-00", "x", 1, NULL, NULL));

    ASSERT_OK(brain_list_names(b, "ns", BRAIN_LIST_ONE_NS, &l));
    ASSERT_EQ_U64(l->count, 20);
    for (int i = 0; i < 20; i++) {
        char name[32];
        snprintf(name, sizeof name, "name-%02d", i);
        const brain_info *in = find(l, "ns", name);
        ASSERT_MSG(in != NULL, "%s missing from the list", name);
        ASSERT_EQ_U64(in->size, (uint64_t)i + 1);
        ASSERT_EQ_U64(in->version, vers[i]);
        ASSERT_EQ_INT(in->name_len, strlen(name));
        ASSERT_STR_EQ(in->ns, "ns");
        ASSERT_EQ_INT(in->type, i == 7 ? BRAIN_TYPE_STR : BRAIN_TYPE_BYTES);
        ASSERT_STR_EQ(in->desc, i == 7 ? "seventh" : "");
        ASSERT_GT(in->created_ns, 0);
    }
    ASSERT_NULL(find(l, NULL, "elsewhere"));
    /* the list owns its strings: they outlive the names */
    ASSERT_OK(brain_ns_clear(b, "ns", NULL));
    ASSERT_STR_EQ(l->items[3].ns, "ns");
    ASSERT_EQ_INT(strncmp(l->items[3].name, "name-", 5), 0);
    brain_list_free(l);

    ASSERT_OK(brain_list_names(b, "ns", BRAIN_LIST_ONE_NS, &l));
    ASSERT_EQ_U64(l->count, 0);
    brain_list_free(l);
    ASSERT_OK(brain_list_names(b, "default", BRAIN_LIST_ONE_NS, &l));
    ASSERT_EQ_U64(l->count, 1);
    ASSERT_STR_EQ(l->items[0].name, "elsewhere");
    ASSERT_STR_EQ(l->items[0].ns, "default");
    brain_list_free(l);
    ASSERT_OK(brain_list_names(b, "never-used", BRAIN_LIST_ONE_NS, &l));
    ASSERT_EQ_U64(l->count, 0);
    brain_list_free(l);
    t_destroy(b, 0);
}

TEST(list_all_namespaces)
{
    brain *b = t_create(0, 0);
    const char *spaces[] = {NULL, "a", "b/c", "d e"};
    for (int s = 0; s < 4; s++)
        for (int i = 0; i < 5; i++) {
            char name[32];
            snprintf(name, sizeof name, "n%d", i);
            ASSERT_OK(brain_put(b, spaces[s], name, "v", 1, NULL, NULL));
        }
    brain_list *l = NULL;
    ASSERT_OK(brain_list_names(b, NULL, BRAIN_LIST_ALL_NS, &l));
    ASSERT_EQ_U64(l->count, 20);
    for (int s = 0; s < 4; s++)
        for (int i = 0; i < 5; i++) {
            char name[32];
            snprintf(name, sizeof name, "n%d", i);
            ASSERT_NOT_NULL(find(l, spaces[s] ? spaces[s] : "default", name));
        }
    brain_list_free(l);
    /* ns is ignored with all_ns */
    ASSERT_OK(brain_list_names(b, "a", BRAIN_LIST_ALL_NS, &l));
    ASSERT_EQ_U64(l->count, 20);
    brain_list_free(l);
    ASSERT_ERR(brain_list_names(b, NULL, BRAIN_LIST_ONE_NS, NULL), BRAIN_EINVAL);
    ASSERT_ERR(brain_list_names(NULL, NULL, BRAIN_LIST_ONE_NS, &l), BRAIN_EINVAL);
    ASSERT_ERR(brain_list_names(b, "", BRAIN_LIST_ONE_NS, &l), BRAIN_ENAMESPACE);
    t_destroy(b, 0);
}

TEST(list_many_names_fast)
{
    brain *b = t_create(0, 256 << 20);
    int n = T_SCALE(100000, 4);
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "key:%d", i);
        ASSERT_OK(brain_put(b, "big", name, &i, sizeof i, NULL, NULL));
    }
    ASSERT_EQ_U64(t_stats(b).names, (uint64_t)n);
    int64_t t0 = t_now_ms();
    brain_list *l = NULL;
    ASSERT_OK(brain_list_names(b, "big", BRAIN_LIST_ONE_NS, &l));
    int64_t el = t_now_ms() - t0;
    ASSERT_EQ_U64(l->count, (uint64_t)n);
    t_log("listed %d names in %lld ms", n, (long long)el);
    ASSERT_LT(el, t_slow() ? 20000 : 1000);
    /* every name exactly once */
    char *seen = calloc((size_t)n, 1);
    for (size_t i = 0; i < l->count; i++) {
        int k = -1;
        ASSERT_EQ_INT(sscanf(l->items[i].name, "key:%d", &k), 1);
        ASSERT(k >= 0 && k < n);
        ASSERT_MSG(!seen[k], "key:%d listed twice", k);
        seen[k] = 1;
        ASSERT_EQ_U64(l->items[i].size, sizeof(int));
    }
    free(seen);
    brain_list_free(l);
    /* lookups stay fast with many names */
    t0 = t_now_ms();
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "key:%d", i);
        int v;
        size_t sz;
        ASSERT_OK(brain_read(b, "big", name, &v, sizeof v, &sz, NULL));
        ASSERT_EQ_INT(v, i);
    }
    ASSERT_LT(t_now_ms() - t0, t_slow() ? 40000 : 2000);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(list_skips_expired)
{
    brain *b = t_create(0, 0);
    brain_put_opts ttl = {.ttl_ms = 50};
    ASSERT_OK(brain_put(b, NULL, "short", "s", 1, &ttl, NULL));
    ASSERT_OK(brain_put(b, NULL, "long", "l", 1, NULL, NULL));
    brain_list *l = NULL;
    ASSERT_OK(brain_list_names(b, NULL, BRAIN_LIST_ONE_NS, &l));
    ASSERT_EQ_U64(l->count, 2);
    const brain_info *in = find(l, NULL, "short");
    ASSERT_NOT_NULL(in);
    ASSERT_GT(in->expires_ns, 0);
    brain_list_free(l);
    t_sleep_ms(120);
    ASSERT_OK(brain_list_names(b, NULL, BRAIN_LIST_ALL_NS, &l));
    ASSERT_EQ_U64(l->count, 1);
    ASSERT_STR_EQ(l->items[0].name, "long");
    brain_list_free(l);
    brain_list_free(NULL);
    t_destroy(b, 0);
}

/* strcmp on the bytes, as unsigned: the order brain_list_sorted_names
 * promises (for UTF-8, code point order), ties by namespace */
static int cmp_bytes(const char *a, const char *b)
{
    return strcmp(a, b);
}

TEST(list_sorted_names)
{
    brain *b = t_create(0, 64 << 20);
    brain_names *l = NULL;
    ASSERT_OK(brain_list_sorted_names(b, NULL, BRAIN_LIST_ONE_NS, &l));
    ASSERT_EQ_U64(l->count, 0);
    brain_names_free(l);
    brain_names_free(NULL);

    /* names stored in a shuffled order, sharing prefixes of 0 to 40 bytes
     * (the sort works 8 bytes at a time), with UTF-8 and short names */
    enum { N = 3000 };
    static char names[N][64];
    static const char *prefixes[] = {"", "a", "ab", "user-", "session:2024-01-01:",
                                     "a-very-long-common-prefix-of-forty-bytes/",
                                     "\xc3\xa9t\xc3\xa9-", "\xe6\x97\xa5\xe6\x9c\xac"};
    unsigned seed = 12345;
    int idx[N];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "%s%u", prefixes[i % 8], (unsigned)(i * 7919u % 100003u));
        idx[i] = i;
    }
    for (int i = N - 1; i > 0; i--) {
        seed = seed * 1103515245u + 12345u;
        int j = (int)(seed % (unsigned)(i + 1)), t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
    for (int i = 0; i < N; i++)
        ASSERT_OK(brain_put(b, "s", names[idx[i]], "v", 1, NULL, NULL));
    ASSERT_OK(brain_put(b, "other", names[5], "v", 1, NULL, NULL));
    ASSERT_OK(brain_put(b, "other", "only-in-other", "v", 1, NULL, NULL));
    ASSERT_OK(brain_put(b, "zz", names[5], "v", 1, NULL, NULL));
    brain_put_opts ttl = {.ttl_ms = 30};
    ASSERT_OK(brain_put(b, "s", "expires", "v", 1, &ttl, NULL));
    t_sleep_ms(80);

    ASSERT_OK(brain_list_sorted_names(b, "s", BRAIN_LIST_ONE_NS, &l));
    ASSERT_EQ_U64(l->count, N);
    for (size_t i = 0; i < l->count; i++) {
        ASSERT_EQ_U64(strlen(l->names[i]), l->name_lens[i]);
        ASSERT_STR_EQ(l->ns[i], "s");
        if (i)
            ASSERT_MSG(cmp_bytes(l->names[i - 1], l->names[i]) < 0, "'%s' listed before '%s'",
                       l->names[i - 1], l->names[i]);
    }
    /* every name once (sorted and N of them, so each is there if found) */
    for (int i = 0; i < N; i += 97) {
        size_t lo = 0, hi = l->count;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (cmp_bytes(l->names[mid], names[i]) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        ASSERT_MSG(lo < l->count && strcmp(l->names[lo], names[i]) == 0, "%s missing", names[i]);
    }
    brain_names_free(l);

    /* every namespace: one name in three namespaces, by namespace */
    ASSERT_OK(brain_list_sorted_names(b, NULL, BRAIN_LIST_ALL_NS, &l));
    ASSERT_EQ_U64(l->count, N + 3);
    int seen5 = 0;
    for (size_t i = 0; i < l->count; i++) {
        if (i) {
            int c = cmp_bytes(l->names[i - 1], l->names[i]);
            ASSERT(c < 0 || (c == 0 && strcmp(l->ns[i - 1], l->ns[i]) < 0));
        }
        if (strcmp(l->names[i], names[5]) == 0) {
            static const char *order[] = {"other", "s", "zz"};
            ASSERT(seen5 < 3);
            ASSERT_STR_EQ(l->ns[i], order[seen5]);
            seen5++;
        }
    }
    ASSERT_EQ_INT(seen5, 3);
    brain_names_free(l);

    ASSERT_ERR(brain_list_sorted_names(b, NULL, BRAIN_LIST_ONE_NS, NULL), BRAIN_EINVAL);
    ASSERT_ERR(brain_list_sorted_names(NULL, NULL, BRAIN_LIST_ONE_NS, &l), BRAIN_EINVAL);
    ASSERT_ERR(brain_list_sorted_names(b, "", BRAIN_LIST_ONE_NS, &l), BRAIN_ENAMESPACE);
    t_destroy(b, 0);
}

/* ---- brain_list_sorted_names against a reference sort ------------------- */

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A random name for reference_names: a prefix from PREFIXES (so that
 * names share their first 0 to 1000 bytes, across the 16 bytes the sort
 * keeps in a record), then 0 to 30 characters from ASCII (space and DEL
 * included), 2-, 3- and 4-byte UTF-8; at most BRAIN_NAME_MAX bytes. */
static void random_name(uint64_t *rs, const char *const *prefixes, size_t np, char *out)
{
    static const char *chars[] = {" ", "!", "0", "9", "A", "Z", "a", "z", "~", "\x7f",
                                  "\xc3\xa9", "\xdf\xbf", "\xe6\x97\xa5", "\xef\xbf\xbd",
                                  "\xf0\x9d\x84\x9e", "\xf4\x8f\xbf\xbf"};
    const char *p = prefixes[t_rand_range(rs, np)];
    size_t n = strlen(p), len = (size_t)t_rand_range(rs, 31);
    memcpy(out, p, n);
    for (size_t i = 0; i < len || n == 0; i++) {
        const char *c = chars[t_rand_range(rs, sizeof chars / sizeof *chars)];
        size_t cl = strlen(c);
        if (n + cl > BRAIN_NAME_MAX)
            break;
        memcpy(out + n, c, cl);
        n += cl;
    }
    out[n] = 0;
}

/* L lists exactly the N names of WANT (sorted here), one namespace. */
static void check_against(const brain_names *l, const char **want, size_t n, const char *ns)
{
    qsort(want, n, sizeof *want, cmp_str_ptr);
    size_t u = 0; /* the distinct ones */
    for (size_t i = 0; i < n; i++)
        if (!u || strcmp(want[u - 1], want[i]) != 0)
            want[u++] = want[i];
    ASSERT_EQ_U64(l->count, u);
    for (size_t i = 0; i < u; i++) {
        ASSERT_MSG(strcmp(l->names[i], want[i]) == 0, "position %zu: listed '%.60s', expected '%.60s'", i,
                   l->names[i], want[i]);
        ASSERT_EQ_U64(l->name_lens[i], strlen(want[i]));
        ASSERT_STR_EQ(l->ns[i], ns);
    }
}

TEST(list_sorted_names_matches_reference)
{
    brain *b = t_create(0, 256 << 20);
    static char longp[1001], longq[1017];
    memset(longp, 'p', 1000);
    memset(longq, 'q', 1016); /* 1016 + 8 = 1024: names of the maximum length */
    longq[1000] = 'Q';
    static const char *prefixes[] = {"", "x", "n-", "1234567", "12345678", "12345678901",
                                     "123456789012", "1234567890123", "123456789012345",
                                     "1234567890123456", "12345678901234567",
                                     "same-twenty-four-bytes!/", "\xc3\xa9t\xc3\xa9-\xe6\x97\xa5",
                                     longp, longq};
    const size_t np = sizeof prefixes / sizeof *prefixes;
    uint64_t rs = 99;
    enum { N = 6000 };
    char (*names)[BRAIN_NAME_MAX + 1] = t_xmalloc((size_t)N * sizeof *names);
    const char **want = t_xmalloc((size_t)N * sizeof *want);
    for (int i = 0; i < N; i++)
        random_name(&rs, prefixes, np, names[i]);
    /* shuffled ("s"); in order ("o", the merge path: the walk finds them
     * mostly in order); and "s" churned: some deleted, some stored again */
    for (int i = 0; i < N; i++)
        ASSERT_OK(brain_put(b, "s", names[t_rand_range(&rs, N)], "v", 1, NULL, NULL));
    int present[N];
    memset(present, 0, sizeof present);
    brain_names *l = NULL;
    ASSERT_OK(brain_list_sorted_names(b, "s", BRAIN_LIST_ONE_NS, &l));
    for (size_t i = 0; i < l->count; i++) {
        const char **hit = NULL;
        for (int j = 0; j < N && !hit; j++)
            if (strcmp(names[j], l->names[i]) == 0)
                present[j] = 1, hit = want;
        ASSERT_MSG(hit != NULL, "'%.60s' listed but never stored", l->names[i]);
    }
    brain_names_free(l);
    for (int i = 0; i < N; i += 7)
        if (present[i] && brain_delete(b, "s", names[i]) == 0)
            present[i] = 0;
    for (int i = 0; i < N; i += 11)
        if (!present[i]) {
            ASSERT_OK(brain_put(b, "s", names[i], "v", 1, NULL, NULL));
            present[i] = 1;
        }
    size_t n = 0;
    for (int i = 0; i < N; i++)
        if (present[i])
            want[n++] = names[i];
    ASSERT_OK(brain_list_sorted_names(b, "s", BRAIN_LIST_ONE_NS, &l));
    check_against(l, want, n, "s");
    brain_names_free(l);

    for (int i = 0; i < N; i++)
        want[i] = names[i];
    qsort(want, N, sizeof *want, cmp_str_ptr);
    for (int i = 0; i < N; i++)
        if (!i || strcmp(want[i - 1], want[i]) != 0)
            ASSERT_OK(brain_put(b, "o", want[i], "v", 1, NULL, NULL));
    for (int i = 0; i < N; i++)
        want[i] = names[i];
    ASSERT_OK(brain_list_sorted_names(b, "o", BRAIN_LIST_ONE_NS, &l));
    check_against(l, want, N, "o");
    brain_names_free(l);

    /* counts on both sides of the sort's thresholds (insertion sort under
     * 32 records, merge sort of equal names from 16) */
    static const size_t sizes[] = {1, 2, 3, 15, 16, 17, 31, 32, 33, 100};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        char ns[16];
        snprintf(ns, sizeof ns, "z%zu", sizes[k]);
        for (size_t i = 0; i < sizes[k]; i++) {
            want[i] = names[(i * 37 + k) % N];
            ASSERT_OK(brain_put(b, ns, want[i], "v", 1, NULL, NULL));
        }
        ASSERT_OK(brain_list_sorted_names(b, ns, BRAIN_LIST_ONE_NS, &l));
        check_against(l, want, sizes[k], ns);
        brain_names_free(l);
    }
    free(want);
    free(names);
    t_destroy(b, 0);
}

TEST(list_sorted_names_ties_by_namespace)
{
    /* the same names in 20 namespaces, stored in a shuffled order: every
     * namespace listing sorts them by name, then namespace */
    brain *b = t_create(0, 64 << 20);
    static const char *names[] = {"a", "a-name-longer-than-sixteen-bytes", "a-name-longer-than-sixteen-bytez",
                                  "b", "\xe6\x97\xa5\xe6\x9c\xac", "exactly-16-bytes", "exactly-16-byteZ"};
    enum { NS = 20, NN = sizeof names / sizeof *names };
    uint64_t rs = 5;
    int order[NS * NN];
    for (int i = 0; i < NS * NN; i++)
        order[i] = i;
    for (int i = NS * NN - 1; i > 0; i--) {
        int j = (int)t_rand_range(&rs, (uint64_t)i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int i = 0; i < NS * NN; i++) {
        char ns[16];
        snprintf(ns, sizeof ns, "ns%02d", order[i] % NS);
        ASSERT_OK(brain_put(b, ns, names[order[i] / NS], "v", 1, NULL, NULL));
    }
    brain_names *l = NULL;
    ASSERT_OK(brain_list_sorted_names(b, NULL, BRAIN_LIST_ALL_NS, &l));
    ASSERT_EQ_U64(l->count, NS * NN);
    const char *sorted[NN];
    memcpy(sorted, names, sizeof sorted);
    qsort(sorted, NN, sizeof *sorted, cmp_str_ptr);
    for (int i = 0; i < NS * NN; i++) {
        char ns[16];
        snprintf(ns, sizeof ns, "ns%02d", i % NS);
        ASSERT_STR_EQ(l->names[i], sorted[i / NS]);
        ASSERT_EQ_U64(l->name_lens[i], strlen(sorted[i / NS]));
        ASSERT_STR_EQ(l->ns[i], ns);
    }
    brain_names_free(l);
    t_destroy(b, 0);
}

TEST(count_names)
{
    brain *b = t_create(0, 64 << 20);
    uint64_t n = 99;
    ASSERT_OK(brain_count_names(b, NULL, &n));
    ASSERT_EQ_U64(n, 0);
    for (int i = 0; i < 300; i++) {
        char name[32];
        snprintf(name, sizeof name, "c%d", i);
        ASSERT_OK(brain_put(b, i % 3 ? "cnt" : NULL, name, "v", 1, NULL, NULL));
    }
    brain_put_opts ttl = {.ttl_ms = 30};
    ASSERT_OK(brain_put(b, "cnt", "expires", "v", 1, &ttl, NULL));
    ASSERT_OK(brain_count_names(b, "cnt", &n));
    ASSERT_EQ_U64(n, 201);
    t_sleep_ms(80);
    ASSERT_OK(brain_count_names(b, "cnt", &n));
    ASSERT_EQ_U64(n, 200); /* the expired name left out */
    ASSERT_OK(brain_count_names(b, NULL, &n));
    ASSERT_EQ_U64(n, 100);
    ASSERT_OK(brain_count_names(b, "nothing-here", &n));
    ASSERT_EQ_U64(n, 0);
    brain_names *l = NULL;
    ASSERT_OK(brain_list_sorted_names(b, "cnt", BRAIN_LIST_ONE_NS, &l));
    ASSERT_EQ_U64(l->count, 200);
    brain_names_free(l);
    ASSERT_ERR(brain_count_names(b, NULL, NULL), BRAIN_EINVAL);
    ASSERT_MSG(strstr(brain_errdetail(), "brain_count_names") != NULL, "%s", brain_errdetail());
    ASSERT_ERR(brain_count_names(NULL, NULL, &n), BRAIN_EINVAL);
    ASSERT_ERR(brain_count_names(b, "", &n), BRAIN_ENAMESPACE);
    t_destroy(b, 0);
}
