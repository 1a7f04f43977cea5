/* LD_PRELOAD shim for vpushd under valgrind only (tests/run-valgrind, bench/run):
 * valgrind 3.19 (Debian 12) does not implement the pidfd_open and pidfd_send_signal
 * syscalls (434, 424) and fails them with ENOSYS, and vpushd refuses every caller it
 * cannot pin with a pidfd. Under valgrind this emulates both with a /proc/<pid> directory
 * fd, which is enough for vpushd's use (pin, then signal 0 to ask whether the process is
 * still there). Outside valgrind the real syscalls answer.
 *
 * Not for production: a /proc directory fd does not keep a recycled pid from being named.
 *
 * Built with the rest (tests/meson.build): BUILDDIR/tests/valgrind-pidfd-shim.so. */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

int pidfd_open (pid_t pid, unsigned int flags);
int pidfd_send_signal (int pidfd, int sig, siginfo_t *info, unsigned int flags);

int
pidfd_open (pid_t pid, unsigned int flags)
{
  char path[32];
  long fd = syscall (SYS_pidfd_open, pid, flags);

  if (fd >= 0 || errno != ENOSYS)
    return (int)fd;
  if (pid <= 0 || flags != 0)
    {
      errno = EINVAL;
      return -1;
    }
  snprintf (path, sizeof path, "/proc/%d", (int)pid);
  fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT)
    errno = ESRCH;
  return (int)fd;
}

int
pidfd_send_signal (int pidfd, int sig, siginfo_t *info, unsigned int flags)
{
  struct stat st;
  long r = syscall (SYS_pidfd_send_signal, pidfd, sig, info, flags);

  if (r >= 0 || errno != ENOSYS)
    return (int)r;
  if (sig != 0 || info != NULL || flags != 0)
    {
      errno = ENOSYS; /* only the liveness probe is emulated */
      return -1;
    }
  /* entries of a reaped process's /proc directory are gone */
  if (fstatat (pidfd, "stat", &st, 0) < 0)
    {
      errno = ESRCH;
      return -1;
    }
  return 0;
}
