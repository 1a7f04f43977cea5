/* Faults for the unit tests: the C library's functions, defined again in the test's
 * executable, which GLib's calls of them resolve to as well */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* While errsv is not 0, every fsync() of a directory fails with it */
void test_faults_fail_dir_syncs (int errsv);
/* While set, every fsync() fails with EINTR, having synced nothing, and its retry of the
 * same fd goes through, as when a signal interrupts it on a network or FUSE file system */
void test_faults_interrupt_syncs (gboolean interrupt);
/* While set, every close() of a regular file closes it and then fails with EINTR, as
 * Linux's close() may when a signal comes (the fd is released all the same) */
void test_faults_interrupt_closes (gboolean interrupt);
/* How many close() calls failed with EBADF while closes were interrupted: an fd closed
 * again after its EINTR */
guint test_faults_bad_closes (void);
/* How many fsync() calls of the directory path there were, failed or not */
guint test_faults_dir_syncs (const gchar *path);
/* While errsv is not 0, every fcntl() that sets a record lock fails with it, as on a file
 * system without POSIX locks (ENOLCK: NFS without its lock daemon) */
void test_faults_fail_locks (int errsv);
/* While set, every pthread_create() fails with EAGAIN, as at a process or memory limit */
void test_faults_fail_threads (gboolean fail);
/* While errsv is not 0, every unlink() fails with it, whether the file is there or not,
 * as on a read-only mount (EROFS) */
void test_faults_fail_unlinks (int errsv);
/* While set, every fsync() waits until it is unset, as on a disk that hangs */
void test_faults_hold_syncs (gboolean hold);
/* How many fsync() calls wait now */
guint test_faults_syncs_held (void);
/* The file at path (absolute) is cut to nothing by the first mmap() or read() of it,
 * as another process could do at any moment */
void test_faults_truncate_on_access (const gchar *path);

G_END_DECLS
