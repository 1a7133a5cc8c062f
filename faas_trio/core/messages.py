"""Every message that crosses a process boundary between components: the one schema.

Requests and replies are frozen, tagged :mod:`msgspec` structs (the tag is the class name),
defined by whom they ask and re-exported here: the requests the dbmanager answers in
:mod:`.dbmanager_messages`, those the jqmanager answers in :mod:`.jqmanager_messages`, the
metrics messages in :mod:`.metrics_messages`, the replies any request may get in
:mod:`.request`, and the supervisor's one request below. The records they carry are in
:mod:`faas_trio.core.records` and the wire encoding in :mod:`faas_trio.core.wire`.
Each request names its reply type, as in ``class GetJob(Request[JobReply])``.
:meth:`faas_trio.core.rpc.Client.call` returns exactly that type (checked on arrival, a reply
of another type raises :class:`~faas_trio.core.errors.ProtocolError` there, the one place a
reply's type is checked). Any request may instead be answered :class:`ErrorReply`, which the
caller raises as the :class:`~faas_trio.core.errors.FaasError` of its code.

Each module's sections say who sends each request to whom.

Bump :data:`faas_trio.core.wire.PROTOCOL_VERSION` on any change a peer of the previous
version would misread.
"""

from __future__ import annotations

from .dbmanager_messages import (
    Changed,
    ChangedMany,
    CreateGroup,
    CreateJob,
    DeleteFunction,
    DeleteJob,
    DeleteSecret,
    DeleteUser,
    FinishJob,
    FinishJobs,
    FunctionReply,
    FunctionsReply,
    GetFunction,
    GetGroup,
    GetJob,
    GetLogs,
    GetUser,
    GroupCreated,
    GroupItems,
    GroupReply,
    GroupsReply,
    JobCreated,
    JobReply,
    JobsReply,
    ListFunctions,
    ListGroups,
    ListJobs,
    ListSecrets,
    LogsReply,
    PutFunction,
    PutSecret,
    PutUser,
    RequeueJob,
    SecretsReply,
    SetBuild,
    StartJob,
    UnfinishedJobs,
    UnfinishedReply,
    UserReply,
    WaitBuild,
)
from .jqmanager_messages import (
    CancelGroup,
    CancelJob,
    Commands,
    Dispatch,
    ForgetFunctions,
    GetStats,
    GroupAccepted,
    GroupCancelled,
    GroupProgress,
    Heartbeat,
    NextJob,
    NoJob,
    Report,
    Stats,
    Submit,
    SubmitGroup,
    WaitJob,
    WatchGroup,
)
from .metrics_messages import GetMetrics, GetStoreMetrics, Metrics, StoreMetrics
from .request import Done, ErrorReply, Ping, Pong, Request, reply_types

__all__ = [
    "CancelGroup",
    "CancelJob",
    "Changed",
    "ChangedMany",
    "DeleteSecret",
    "ListSecrets",
    "PutSecret",
    "SecretsReply",
    "SetBuild",
    "WaitBuild",
    "Commands",
    "CreateGroup",
    "CreateJob",
    "DeleteFunction",
    "DeleteJob",
    "DeleteUser",
    "Dispatch",
    "Done",
    "ErrorReply",
    "FinishJob",
    "FinishJobs",
    "ForgetFunctions",
    "FunctionReply",
    "FunctionsReply",
    "GetFunction",
    "GetGroup",
    "GetJob",
    "GetLogs",
    "GetMetrics",
    "GetStats",
    "GetStoreMetrics",
    "GetUser",
    "GroupAccepted",
    "GroupCancelled",
    "GroupCreated",
    "GroupItems",
    "GroupProgress",
    "GroupReply",
    "GroupsReply",
    "Heartbeat",
    "JobCreated",
    "JobReply",
    "JobsReply",
    "ListFunctions",
    "ListGroups",
    "ListJobs",
    "LogsReply",
    "Message",
    "Metrics",
    "NextJob",
    "NoJob",
    "Ping",
    "Pong",
    "PutFunction",
    "PutUser",
    "Report",
    "Request",
    "RequeueJob",
    "SetWorkers",
    "StartJob",
    "Stats",
    "StoreMetrics",
    "Submit",
    "SubmitGroup",
    "UnfinishedJobs",
    "UnfinishedReply",
    "UserReply",
    "WaitJob",
    "WatchGroup",
    "reply_types",
]

# ---- scaler -> supervisor (faas-trio up) ----------------------------------------------------


class SetWorkers(Request[Done], frozen=True, tag=True):
    """Run ``count`` worker processes (the local actuator of the scaler). -> Done."""

    count: int


#: Any message: what the wire decoder accepts.
Message = (
    Pong
    | Ping
    | Done
    | ErrorReply
    | PutUser
    | DeleteUser
    | UserReply
    | GetUser
    | FunctionReply
    | PutFunction
    | GetFunction
    | FunctionsReply
    | ListFunctions
    | DeleteFunction
    | JobCreated
    | CreateJob
    | Changed
    | StartJob
    | RequeueJob
    | FinishJob
    | DeleteJob
    | JobReply
    | GetJob
    | LogsReply
    | GetLogs
    | JobsReply
    | ListJobs
    | UnfinishedReply
    | UnfinishedJobs
    | Submit
    | WaitJob
    | CancelJob
    | Stats
    | GetStats
    | Dispatch
    | NoJob
    | NextJob
    | Commands
    | Heartbeat
    | Report
    | SetWorkers
    | Metrics
    | GetMetrics
    | StoreMetrics
    | GetStoreMetrics
    | ChangedMany
    | FinishJobs
    | GroupCreated
    | CreateGroup
    | GroupReply
    | GetGroup
    | GroupItems
    | GroupsReply
    | ListGroups
    | GroupAccepted
    | SubmitGroup
    | GroupProgress
    | WatchGroup
    | GroupCancelled
    | CancelGroup
    | ForgetFunctions
    | SetBuild
    | WaitBuild
    | PutSecret
    | DeleteSecret
    | SecretsReply
    | ListSecrets
)
