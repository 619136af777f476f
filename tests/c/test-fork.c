/* test-fork.c - handles and views across fork(). */
#include "test.h"

#include <sched.h>
#include <signal.h>
#include <sys/wait.h>

static void put_checked(brain *b, const char *name, size_t size, uint64_t seed)
{
    unsigned char *buf = t_xmalloc(size);
    t_vfill(buf, size, seed);
    ASSERT_OK(brain_put(b, NULL, name, buf, size, NULL, NULL));
    free(buf);
}

TEST(fork_child_view_survives_parent_release_and_reuse)
{
    brain_config cfg = {.capacity = 16 << 20, .max_procs = 8};
    brain *b = t_create_cfg(0, &cfg);
    put_checked(b, "shared", 1 << 20, 31337);
    brain_view view = {0};
    ASSERT_OK(brain_get(b, NULL, "shared", &view));
    t_chan go, done;
    t_chan_init(&go);
    t_chan_init(&done);
    pid_t pid = t_fork();
    if (pid == 0) {
        /* wait until the parent released, replaced and churned */
        ASSERT_EQ_INT(t_chan_recv(&go), 'g');
        ASSERT_EQ_U64(view.size, 1 << 20);
        ASSERT_VALUE(view.data, view.size, 31337);
        /* the inherited handle works normally */
        brain_view now = {0};
        ASSERT_OK(brain_get(b, NULL, "shared", &now));
        ASSERT_VALUE(now.data, now.size, 99);
        brain_view_release(b, &now);
        ASSERT_OK(brain_put(b, NULL, "from-child", "hi", 2, NULL, NULL));
        brain_view_release(b, &view);
        ASSERT_OK(brain_close(b));
        t_chan_send(&done, 'd');
        t_child_exit(0);
    }
    /* parent: release, replace the name, then churn the store hard enough
     * that any unpinned block would be reused */
    brain_view_release(b, &view);
    ASSERT_OK(brain_delete(b, NULL, "shared"));
    unsigned char *buf = t_xmalloc(1 << 20);
    for (int i = 0; i < 60; i++) {
        char name[32];
        snprintf(name, sizeof name, "c%d", i % 5);
        t_vfill(buf, 1 << 20, 1000u + (uint64_t)i);
        int rc = brain_put(b, NULL, name, buf, 1 << 20, NULL, NULL);
        ASSERT_MSG(rc == 0 || rc == BRAIN_EFULL, "churn: %s",
                   brain_errname(rc));
    }
    put_checked(b, "shared", 1 << 20, 99);
    t_chan_send(&go, 'g');
    ASSERT_EQ_INT(t_chan_recv_from(&done, pid), 'd');
    t_wait_ok(pid);
    ASSERT_EQ_INT(brain_exists(b, NULL, "from-child"), 1);
    /* after the child released it, the block is reclaimed */
    for (int i = 0; i < 10; i++) {
        char name[32];
        snprintf(name, sizeof name, "c%d", i % 5);
        t_vfill(buf, 1 << 20, 2000u + (uint64_t)i);
        ASSERT_OK(brain_put(b, NULL, name, buf, 1 << 20, NULL, NULL));
    }
    ASSERT_EQ_U64(t_stats(b).pins, 0);
    free(buf);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(fork_child_gets_own_slot)
{
    brain *b = t_create(0, 0);
    ASSERT_OK(brain_put(b, NULL, "k", "v", 1, NULL, NULL));
    ASSERT_EQ_U64(t_stats(b).procs, 1);
    t_chan ready, go;
    t_chan_init(&ready);
    t_chan_init(&go);
    pid_t pid = t_fork();
    if (pid == 0) {
        brain_view v = {0};
        ASSERT_OK(brain_get(b, NULL, "k", &v));
        ASSERT_OK(brain_put(b, NULL, "child", "c", 1, NULL, NULL));
        t_chan_send(&ready, 'r');
        t_chan_recv(&go);
        brain_view_release(b, &v);
        ASSERT_OK(brain_close(b));
        t_child_exit(0);
    }
    ASSERT_EQ_INT(t_chan_recv_from(&ready, pid), 'r');
    brain_stats st = t_stats(b);
    ASSERT_EQ_U64(st.procs, 2);
    ASSERT_EQ_U64(st.pins, 1);
    t_chan_send(&go, 'g');
    t_wait_ok(pid);
    st = t_stats(b);
    ASSERT_EQ_U64(st.procs, 1);
    ASSERT_EQ_U64(st.pins, 0);
    ASSERT_EQ_INT(brain_exists(b, NULL, "child"), 1);
    t_destroy(b, 0);
}

TEST(fork_child_killed_with_inherited_view)
{
    brain *b = t_create(0, 16 << 20);
    uint64_t used0 = t_used(b);
    put_checked(b, "v", 2 << 20, 5);
    brain_view view = {0};
    ASSERT_OK(brain_get(b, NULL, "v", &view));
    t_chan ready;
    t_chan_init(&ready);
    pid_t pid = t_fork();
    if (pid == 0) {
        ASSERT_VALUE(view.data, view.size, 5);
        brain_view mine = {0};
        ASSERT_OK(brain_get(b, NULL, "v", &mine));
        t_chan_send(&ready, 'r');
        for (;;)
            pause();
    }
    ASSERT_EQ_INT(t_chan_recv_from(&ready, pid), 'r');
    kill(pid, SIGKILL);
    t_wait_status(pid);
    brain_view_release(b, &view);
    ASSERT_OK(brain_delete(b, NULL, "v"));
    /* the dead child's pins go with its slot */
    size_t reaped = 0;
    ASSERT_OK(brain_reap(b, &reaped));
    ASSERT_LE_U64(reaped, 1); /* the delete may have reaped it already */
    ASSERT_GE_U64(t_stats(b).reaped, 1);
    ASSERT_OK(brain_put(b, NULL, "w", "w", 1, NULL, NULL));
    ASSERT_OK(brain_delete(b, NULL, "w"));
    brain_stats st = t_stats(b);
    ASSERT_EQ_U64(st.pins, 0);
    ASSERT_EQ_U64(st.limbo, 0);
    ASSERT_EQ_U64(st.used, used0);
    ASSERT_EQ_U64(st.procs, 1);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(fork_many_children_read_parent_values)
{
    brain *b = t_create(0, 64 << 20);
    for (int i = 0; i < 10; i++) {
        char name[32];
        snprintf(name, sizeof name, "m%d", i);
        put_checked(b, name, (size_t)(i + 1) * 10000, (uint64_t)i);
    }
    enum { K = 6 };
    pid_t kids[K];
    for (int k = 0; k < K; k++) {
        kids[k] = t_fork();
        if (kids[k] == 0) {
            for (int r = 0; r < 50; r++)
                for (int i = 0; i < 10; i++) {
                    char name[32];
                    snprintf(name, sizeof name, "m%d", i);
                    brain_view v = {0};
                    ASSERT_OK(brain_get(b, NULL, name, &v));
                    ASSERT_VALUE(v.data, v.size, (uint64_t)i);
                    brain_view_release(b, &v);
                }
            char name[32];
            snprintf(name, sizeof name, "k%d", k);
            ASSERT_OK(brain_put(b, NULL, name, &k, sizeof k, NULL, NULL));
            /* exits without closing: reaped later */
            t_child_exit(0);
        }
    }
    for (int k = 0; k < K; k++)
        t_wait_ok(kids[k]);
    for (int k = 0; k < K; k++) {
        char name[32];
        snprintf(name, sizeof name, "k%d", k);
        int v = -1;
        size_t n;
        ASSERT_OK(brain_read(b, NULL, name, &v, sizeof v, &n, NULL));
        ASSERT_EQ_INT(v, k);
    }
    size_t reaped = 0;
    ASSERT_OK(brain_reap(b, &reaped));
    ASSERT_LE_U64(reaped, K); /* children's writes may have reaped some */
    ASSERT_GE_U64(t_stats(b).reaped, K);
    ASSERT_EQ_U64(t_stats(b).procs, 1);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(fork_child_slot_when_table_full_of_dead)
{
    /* brain.h: every handle takes a slot, EPROCS only when the table is
     * full of live processes, dead ones are reaped first; a forked child
     * keeps working with the handles it inherited. */
    brain_config cfg = {.max_procs = 4};
    brain *b = t_create_cfg(0, &cfg);
    ASSERT_OK(brain_put(b, NULL, "k", "v", 1, NULL, NULL));
    /* fill the table with dead processes */
    for (int i = 0; i < 3; i++) {
        t_chan ready;
        t_chan_init(&ready);
        pid_t pid = t_fork();
        if (pid == 0) {
            ASSERT_OK(brain_put(b, NULL, "x", "x", 1, NULL, NULL));
            t_chan_send(&ready, 'r');
            for (;;)
                pause();
        }
        ASSERT_EQ_INT(t_chan_recv_from(&ready, pid), 'r');
        kill(pid, SIGKILL);
        t_wait_status(pid);
    }
    pid_t pid = t_fork();
    if (pid == 0) {
        char c = 0;
        size_t n;
        ASSERT_OK(brain_read(b, NULL, "k", &c, 1, &n, NULL));
        ASSERT_EQ_INT(c, 'v');
        ASSERT_OK(brain_put(b, NULL, "child", "c", 1, NULL, NULL));
        ASSERT_OK(brain_close(b));
        t_child_exit(0);
    }
    t_wait_ok(pid);
    ASSERT_EQ_INT(brain_exists(b, NULL, "child"), 1);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(fork_child_killed_at_once_frees_slot)
{
    /* Children killed right after fork(), maybe before they ran a single
     * instruction of their own, must not hold process slots for long. */
    brain_config cfg = {.max_procs = 4};
    brain *b = t_create_cfg(0, &cfg);
    /* one CPU: after fork() the parent runs on and kills the child before
     * it is scheduled at all */
#ifdef __linux__
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu() >= 0 ? sched_getcpu() : 0, &one);
    sched_setaffinity(0, sizeof one, &one);
    /* and a real-time parent is not preempted by its new child (when this
     * process may do that; otherwise the kills land early only often) */
    struct sched_param sp = {.sched_priority = 1};
    int rt = sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &sp) == 0;
#else /* (macOS: no affinity; the kills land early only often) */
    int rt = 0;
#endif
    t_log("real-time parent: %s", rt ? "yes" : "no");
    for (int i = 0; i < 100; i++) {
        pid_t pid = t_fork();
        if (pid == 0) {
            for (;;)
                pause();
        }
        kill(pid, SIGKILL);
        t_wait_status(pid);
    }
#ifdef __linux__
    if (rt) {
        sp.sched_priority = 0;
        sched_setscheduler(0, SCHED_OTHER, &sp);
    }
#endif
    brain *b2 = NULL;
    ASSERT_OK(brain_open(t_store(0), 0, NULL, &b2));
    ASSERT_OK(brain_close(b2));
    pid_t pid = t_fork();
    if (pid == 0) {
        ASSERT_OK(brain_put(b, NULL, "child", "c", 1, NULL, NULL));
        t_child_exit(0);
    }
    t_wait_ok(pid);
    t_destroy(b, 0);
}

TEST(fork_carries_many_pins)
{
    /* A parent holding hundreds of views forks: every inherited view stays
     * valid in the child while the parent drops, deletes and overwrites. */
    brain *b = t_create(0, 128 << 20);
    enum { N = 600 };
    static brain_view views[N];
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "p%d", i);
        put_checked(b, name, 1000 + (size_t)i * 7, (uint64_t)i);
        ASSERT_OK(brain_get(b, NULL, name, &views[i]));
    }
    t_chan go, done;
    t_chan_init(&go);
    t_chan_init(&done);
    pid_t pid = t_fork();
    if (pid == 0) {
        ASSERT_EQ_INT(t_chan_recv(&go), 'g');
        for (int i = 0; i < N; i++)
            ASSERT_VALUE(views[i].data, views[i].size, (uint64_t)i);
        for (int i = 0; i < N; i++)
            brain_view_release(b, &views[i]);
        ASSERT_OK(brain_close(b));
        t_chan_send(&done, 'd');
        t_child_exit(0);
    }
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "p%d", i);
        brain_view_release(b, &views[i]);
        ASSERT_OK(brain_delete(b, NULL, name));
    }
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "q%d", i);
        put_checked(b, name, 1000 + (size_t)i * 7, 100000u + (uint64_t)i);
    }
    t_chan_send(&go, 'g');
    ASSERT_EQ_INT(t_chan_recv_from(&done, pid), 'd');
    t_wait_ok(pid);
    ASSERT_EQ_U64(t_stats(b).pins, 0);
    t_check_store(b);
    t_destroy(b, 0);
}
