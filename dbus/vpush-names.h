/* Every D-Bus name, path and journal field vpush uses, in one place.
 * The public contract is docs/dbus-api.md. */
#pragma once

#define VPUSH_DBUS_NAME            "io.github.vpush"
#define VPUSH_DBUS_PATH            "/io/github/vpush"
#define VPUSH_DBUS_FACTORS_PATH    "/io/github/vpush/factors"
#define VPUSH_DBUS_CHALLENGES_PATH "/io/github/vpush/challenges"

#define VPUSH_DBUS_IFACE_PREFIX    "io.github.vpush1."
#define VPUSH_DBUS_MANAGER_IFACE   "io.github.vpush1.Manager"
#define VPUSH_DBUS_FACTOR_IFACE    "io.github.vpush1.Factor"
#define VPUSH_DBUS_CHALLENGE_IFACE "io.github.vpush1.Challenge"

/* Standard interfaces vpushd implements or calls by hand */
#define VPUSH_DBUS_OBJECT_MANAGER_IFACE "org.freedesktop.DBus.ObjectManager"
#define VPUSH_DBUS_PROPERTIES_IFACE     "org.freedesktop.DBus.Properties"
#define VPUSH_DBUS_PEER_IFACE           "org.freedesktop.DBus.Peer"
#define VPUSH_DBUS_INTROSPECTABLE_IFACE "org.freedesktop.DBus.Introspectable"

/* The message bus itself */
#define VPUSH_DBUS_DAEMON_NAME  "org.freedesktop.DBus"
#define VPUSH_DBUS_DAEMON_PATH  "/org/freedesktop/DBus"
#define VPUSH_DBUS_DAEMON_IFACE "org.freedesktop.DBus"

/* Members of the standard interfaces vpush calls or sends */
#define VPUSH_DBUS_GET_MANAGED_OBJECTS               "GetManagedObjects"
#define VPUSH_DBUS_INTERFACES_ADDED                  "InterfacesAdded"
#define VPUSH_DBUS_INTERFACES_REMOVED                "InterfacesRemoved"
#define VPUSH_DBUS_PROPERTIES_GET                    "Get"
#define VPUSH_DBUS_PROPERTIES_GET_ALL                "GetAll"
#define VPUSH_DBUS_PROPERTIES_SET                    "Set"
#define VPUSH_DBUS_INTROSPECT                        "Introspect"
#define VPUSH_DBUS_PROPERTIES_CHANGED                "PropertiesChanged"
#define VPUSH_DBUS_PEER_PING                         "Ping"
#define VPUSH_DBUS_DAEMON_GET_CONNECTION_CREDENTIALS "GetConnectionCredentials"
#define VPUSH_DBUS_DAEMON_GET_CONNECTION_PID         "GetConnectionUnixProcessID"
#define VPUSH_DBUS_DAEMON_REQUEST_NAME               "RequestName"
#define VPUSH_DBUS_DAEMON_RELEASE_NAME               "ReleaseName"

/* Keys of GetConnectionCredentials's answer */
#define VPUSH_DBUS_CREDENTIALS_UID    "UnixUserID"
#define VPUSH_DBUS_CREDENTIALS_PID    "ProcessID"
#define VPUSH_DBUS_CREDENTIALS_PID_FD "ProcessFD"

/* Properties of io.github.vpush1.Manager, in the order of its XML */
#define VPUSH_DBUS_MANAGER_VERSION    "Version"
#define VPUSH_DBUS_MANAGER_STATE      "State"
#define VPUSH_DBUS_MANAGER_PUSH_STATE "PushState"

/* Properties of io.github.vpush1.Factor, in the order of its XML */
#define VPUSH_DBUS_FACTOR_SID           "Sid"
#define VPUSH_DBUS_FACTOR_FRIENDLY_NAME "FriendlyName"
#define VPUSH_DBUS_FACTOR_SERVICE_SID   "ServiceSid"
#define VPUSH_DBUS_FACTOR_IDENTITY      "Identity"
#define VPUSH_DBUS_FACTOR_ACCOUNT_SID   "AccountSid"
#define VPUSH_DBUS_FACTOR_STATUS        "Status"
#define VPUSH_DBUS_FACTOR_CREATED_AT    "CreatedAt"
#define VPUSH_DBUS_FACTOR_KEY_STORAGE   "KeyStorage"
#define VPUSH_DBUS_FACTOR_PUSH_URL      "PushUrl"

/* Properties of io.github.vpush1.Challenge, in the order of its XML */
#define VPUSH_DBUS_CHALLENGE_SID        "Sid"
#define VPUSH_DBUS_CHALLENGE_FACTOR     "Factor"
#define VPUSH_DBUS_CHALLENGE_STATUS     "Status"
#define VPUSH_DBUS_CHALLENGE_MESSAGE    "Message"
#define VPUSH_DBUS_CHALLENGE_FIELDS     "Fields"
#define VPUSH_DBUS_CHALLENGE_CREATED_AT "CreatedAt"
#define VPUSH_DBUS_CHALLENGE_EXPIRES_AT "ExpiresAt"

/* Methods of io.github.vpush1.Manager and io.github.vpush1.Factor */
#define VPUSH_DBUS_METHOD_ENROLL_FACTOR     "EnrollFactor"
#define VPUSH_DBUS_METHOD_APPROVE_CHALLENGE "ApproveChallenge"
#define VPUSH_DBUS_METHOD_DENY_CHALLENGE    "DenyChallenge"
#define VPUSH_DBUS_METHOD_REFRESH           "Refresh"
#define VPUSH_DBUS_METHOD_VERIFY            "Verify"
#define VPUSH_DBUS_METHOD_UPDATE            "Update"
#define VPUSH_DBUS_METHOD_DELETE            "Delete"
#define VPUSH_DBUS_METHOD_LIST_CHALLENGES   "ListChallenges"

/* Keys of EnrollFactor's request */
#define VPUSH_DBUS_ENROLL_SERVICE_SID   "service-sid"
#define VPUSH_DBUS_ENROLL_IDENTITY      "identity"
#define VPUSH_DBUS_ENROLL_ACCESS_TOKEN  "access-token"
#define VPUSH_DBUS_ENROLL_FRIENDLY_NAME "friendly-name"
#define VPUSH_DBUS_ENROLL_METADATA      "metadata"
#define VPUSH_DBUS_ENROLL_PUSH_URL      "push-url"
#define VPUSH_DBUS_ENROLL_VERIFY        "verify"

/* Keys of ApproveChallenge's and DenyChallenge's match */
#define VPUSH_DBUS_MATCH_TRANSACTION_ID "transaction-id"
#define VPUSH_DBUS_MATCH_CHALLENGE_SID  "challenge-sid"
#define VPUSH_DBUS_MATCH_FACTOR_SID     "factor-sid"
#define VPUSH_DBUS_MATCH_TIMEOUT_MS     "timeout-ms"

/* Keys of Factor.Update's changes */
#define VPUSH_DBUS_UPDATE_FRIENDLY_NAME "friendly-name"
#define VPUSH_DBUS_UPDATE_PUSH_URL      "push-url"

/* Keys of Factor.ListChallenges's options, and of each challenge it lists */
#define VPUSH_DBUS_LIST_STATUS                "status"
#define VPUSH_DBUS_LIST_ORDER                 "order"
#define VPUSH_DBUS_LIST_PAGE_SIZE             "page-size"
#define VPUSH_DBUS_LIST_PAGE_TOKEN            "page-token"
#define VPUSH_DBUS_LIST_ITEM_SID              "sid"
#define VPUSH_DBUS_LIST_ITEM_STATUS           "status"
#define VPUSH_DBUS_LIST_ITEM_MESSAGE          "message"
#define VPUSH_DBUS_LIST_ITEM_FIELDS           "fields"
#define VPUSH_DBUS_LIST_ITEM_CREATED_AT       "created-at"
#define VPUSH_DBUS_LIST_ITEM_EXPIRES_AT       "expires-at"
#define VPUSH_DBUS_LIST_ITEM_RESPONDED_REASON "responded-reason"

#define VPUSH_DBUS_ERROR_PREFIX            "io.github.vpush1.Error."
#define VPUSH_DBUS_ERROR_FAILED            VPUSH_DBUS_ERROR_PREFIX "Failed"
#define VPUSH_DBUS_ERROR_NOT_FOUND         VPUSH_DBUS_ERROR_PREFIX "NotFound"
#define VPUSH_DBUS_ERROR_AMBIGUOUS         VPUSH_DBUS_ERROR_PREFIX "Ambiguous"
#define VPUSH_DBUS_ERROR_EXPIRED           VPUSH_DBUS_ERROR_PREFIX "Expired"
#define VPUSH_DBUS_ERROR_ALREADY_RESPONDED VPUSH_DBUS_ERROR_PREFIX "AlreadyResponded"
#define VPUSH_DBUS_ERROR_KEYRING_LOCKED    VPUSH_DBUS_ERROR_PREFIX "KeyringLocked"
#define VPUSH_DBUS_ERROR_NETWORK           VPUSH_DBUS_ERROR_PREFIX "Network"
#define VPUSH_DBUS_ERROR_API               VPUSH_DBUS_ERROR_PREFIX "Api"
/* not in dbus-api.md: an addition, the answer of a vpushd that could not start */
#define VPUSH_DBUS_ERROR_START_FAILED VPUSH_DBUS_ERROR_PREFIX "StartFailed"

/* Manager.State */
#define VPUSH_STATE_STARTING       "starting"
#define VPUSH_STATE_READY          "ready"
#define VPUSH_STATE_KEYRING_LOCKED "keyring-locked"
#define VPUSH_STATE_OFFLINE        "offline"

/* Manager.PushState */
#define VPUSH_PUSH_STATE_DISABLED   "disabled"
#define VPUSH_PUSH_STATE_CONNECTING "connecting"
#define VPUSH_PUSH_STATE_CONNECTED  "connected"
#define VPUSH_PUSH_STATE_RETRYING   "retrying"

/* Factor.KeyStorage */
#define VPUSH_KEY_STORAGE_SECRET_SERVICE "secret-service"

/* Secret Service schema of the factor keys */
#define VPUSH_SECRET_SCHEMA "io.github.vpush.FactorKey"

/* The Secret Service that keeps them; gnome-keyring's own interface unlocks it in tests */
#define VPUSH_SECRETS_NAME             "org.freedesktop.secrets"
#define VPUSH_SECRETS_PATH             "/org/freedesktop/secrets"
#define VPUSH_SECRETS_SERVICE_IFACE    "org.freedesktop.Secret.Service"
#define VPUSH_SECRETS_COLLECTION_IFACE "org.freedesktop.Secret.Collection"
#define VPUSH_SECRETS_ITEM_IFACE       "org.freedesktop.Secret.Item"
#define VPUSH_GNOME_KEYRING_INTERNAL_IFACE                                                         \
  "org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface"
/* Its members that vpushd listens to, or that its tests call */
#define VPUSH_SECRETS_ITEM_CREATED               "ItemCreated"
#define VPUSH_SECRETS_ITEM_DELETED               "ItemDeleted"
#define VPUSH_SECRETS_COLLECTION_CHANGED         "CollectionChanged"
#define VPUSH_SECRETS_COLLECTION_CREATED         "CollectionCreated"
#define VPUSH_SECRETS_COLLECTION_DELETED         "CollectionDeleted"
#define VPUSH_SECRETS_OPEN_SESSION               "OpenSession"
#define VPUSH_SECRETS_SEARCH_ITEMS               "SearchItems"
#define VPUSH_SECRETS_GET_SECRETS                "GetSecrets"
#define VPUSH_SECRETS_SET_ALIAS                  "SetAlias"
#define VPUSH_SECRETS_LOCK                       "Lock"
#define VPUSH_SECRETS_DELETE                     "Delete"
#define VPUSH_GNOME_KEYRING_UNLOCK_WITH_PASSWORD "UnlockWithMasterPassword"

/* logind, asked for the login session of a caller, and heard on a resume from suspend */
#define VPUSH_LOGIND_NAME                     "org.freedesktop.login1"
#define VPUSH_LOGIND_PATH                     "/org/freedesktop/login1"
#define VPUSH_LOGIND_MANAGER_IFACE            "org.freedesktop.login1.Manager"
#define VPUSH_LOGIND_SESSION_IFACE            "org.freedesktop.login1.Session"
#define VPUSH_LOGIND_USER_IFACE               "org.freedesktop.login1.User"
#define VPUSH_LOGIND_ERROR_NO_SESSION_FOR_PID "org.freedesktop.login1.NoSessionForPID"
#define VPUSH_LOGIND_ERROR_NO_SUCH_USER       "org.freedesktop.login1.NoSuchUser"
#define VPUSH_LOGIND_PREPARE_FOR_SLEEP        "PrepareForSleep"
#define VPUSH_LOGIND_GET_SESSION_BY_PID       "GetSessionByPID"
#define VPUSH_LOGIND_GET_USER                 "GetUser"
/* the properties of a session and of a user it reads */
#define VPUSH_LOGIND_SESSION_ID          "Id"
#define VPUSH_LOGIND_SESSION_SEAT        "Seat"
#define VPUSH_LOGIND_SESSION_ACTIVE      "Active"
#define VPUSH_LOGIND_SESSION_LOCKED_HINT "LockedHint"
#define VPUSH_LOGIND_USER_DISPLAY        "Display"

/* systemd: the errors of a D-Bus activation through it all start so */
#define VPUSH_SYSTEMD_ERROR_PREFIX "org.freedesktop.systemd1."

/* bench/name-owner, the benchmarks' baseline service: its default name, and the interface
 * of its method Nop */
#define VPUSH_BENCH_BASELINE_NAME  "io.github.vpush.BenchBaseline"
#define VPUSH_BENCH_BASELINE_IFACE "io.github.vpush.BenchBaseline"
#define VPUSH_BENCH_BASELINE_NOP   "Nop"

/* Journal fields */
#define VPUSH_LOG_FIELD_FACTOR    "VPUSH_FACTOR"
#define VPUSH_LOG_FIELD_CHALLENGE "VPUSH_CHALLENGE"
#define VPUSH_LOG_FIELD_CALLER    "VPUSH_CALLER"

/* Journal fields of the audit trail (policy decisions) */
#define VPUSH_LOG_FIELD_ACTION         "VPUSH_ACTION"
#define VPUSH_LOG_FIELD_DECISION       "VPUSH_DECISION"
#define VPUSH_LOG_FIELD_RULE           "VPUSH_RULE"
#define VPUSH_LOG_FIELD_CALLER_EXE     "VPUSH_CALLER_EXE"
#define VPUSH_LOG_FIELD_CALLER_UNIT    "VPUSH_CALLER_UNIT"
#define VPUSH_LOG_FIELD_CALLER_APP     "VPUSH_CALLER_APP"
#define VPUSH_LOG_FIELD_CALLER_PID     "VPUSH_CALLER_PID"
#define VPUSH_LOG_FIELD_CALLER_SESSION "VPUSH_CALLER_SESSION"
#define VPUSH_LOG_FIELD_TRANSACTION    "VPUSH_TRANSACTION"
/* how many of a caller's records were left out (VPUSH_MSGID_LEFT_OUT) */
#define VPUSH_LOG_FIELD_LEFT_OUT "VPUSH_LEFT_OUT"

/* VPUSH_DECISION values */
#define VPUSH_DECISION_ALLOWED "allowed"
#define VPUSH_DECISION_REFUSED "refused"
#define VPUSH_DECISION_FAILED  "failed"
