/* Start-up recovery (docs/crash-safety.md): finishes or undoes what a crash left behind, the
 * entries of the enrollment journal and keys in the keyring that no factor owns; and, while
 * vpushd runs, what a failed rollback or deletion hands it. */
#pragma once

#include "vpush-factor-store.h"
#include "vpush-keystore.h"
#include "vpush-verify.h"

G_BEGIN_DECLS

#define VPUSH_TYPE_RECOVERY (vpush_recovery_get_type ())
G_DECLARE_FINAL_TYPE (VpushRecovery, vpush_recovery, VPUSH, RECOVERY, GObject)

VpushRecovery *vpush_recovery_new (VpushFactorStore *store, VpushKeystore *keystore,
                                   VpushVerify *verify);

/* records: VpushFactorRecord, as loaded at start (their services are the ones whose unowned keys
 * may be deleted). Reads the journal at once, so call it before anything can enroll; then works
 * in the background: it waits for a usable keyring, and tries an API that can't be reached
 * again later. Each entry is handled in journal order:
 * - no factor sid (the create was in flight): its provisional key goes; a factor the create may
 *   have made is unverified, and the Verify API deletes it by itself;
 * - a factor sid and a record for it (for an entry read now, a record in records): the
 *   enrollment had finished, or the deletion had not begun; its provisional key goes;
 * - a factor sid and no record: the remote factor is deleted with its key (a 404 counts as done),
 *   then its keys; but an entry made against another Verify API than verify's stays, keys and
 *   all, for a start against that API, and the entries behind it go on.
 * The journal entry goes last. Then keys of the known services that no record and no journal
 * entry owns are deleted. Logs "crash recovery finished" when all is done. */
void vpush_recovery_start (VpushRecovery *self, const GPtrArray *records);
/* Takes over entry, a journal entry the running vpushd could not finish or undo (an enrollment
 * whose rollback met a hung or locked keyring or an unreachable API, a deletion whose key the
 * keyring could not take): it is handled after the ones read at start, as they are, instead of
 * staying in the journal, with its keys and maybe a remote factor, until the next start.
 * api_done: nothing is left to do at the Verify API (the remote factor is deleted, or none is
 * known), so only its keys go, then the entry. */
void vpush_recovery_take (VpushRecovery *self, VpushEnrollment *entry, gboolean api_done);
/* Whether an entry still to do, or left for another Verify API, names factor_sid: until it is
 * done, that factor's keys (and maybe its remote factor) are the entry's, and nothing else may
 * take the sid. */
gboolean vpush_recovery_holds_sid (VpushRecovery *self, const gchar *factor_sid);
/* Cancels what is in flight; what is left stays in the journal for the next start. */
void vpush_recovery_stop (VpushRecovery *self);

G_END_DECLS
