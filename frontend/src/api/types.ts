/**
 * Types of the Topicdesk public API v1 as the portal uses it, written to match
 * /work/shared/api-contract.md (and checked against /api/v1/openapi.json by `npm run check-api`).
 * Fields marked "beyond the contract" are ones the portal reads when the server sends them and
 * degrades without.
 */

/** RFC 9457 problem details. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  errors?: Array<{ path: string; message: string }>;
}

/** GET /auth/session (cookie session of the browser). */
export interface Session {
  subject: string;
  teams: string[];
  roles: string[];
  platform_admin: boolean;
  csrf_token: string;
  /** When the session ends (the server sends it). */
  expires_at?: string;
  /** Beyond the contract: a display name from the OIDC profile. */
  name?: string;
}

/** POST /auth/logout for a JSON caller. */
export interface LogoutResult {
  logged_out?: boolean;
  /** The identity provider's end-session URL, when it has one. */
  redirect_to?: string | null;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export type Environment = "dev" | "staging" | "prod" | (string & {});

/** Beyond the contract: what a cluster uses of its budgets. */
export interface ClusterCapacity {
  partitions_used?: number | null;
  partition_budget?: number | null;
  disk_bytes_used?: number | null;
  disk_budget_bytes?: number | null;
}

export interface Cluster {
  name: string;
  environment: Environment;
  owner_team: string;
  bootstrap_servers: string;
  security_protocol: string;
  sasl_mechanism: string;
  /** Beyond the contract; absent or null when the server does not know. */
  capacity?: ClusterCapacity | null;
}

/** Beyond the contract: GET /api/v1/clusters/{cluster}/service-accounts items. */
export interface ServiceAccount {
  principal: string;
  username?: string;
  cluster?: string;
  team?: string;
  created_at?: string;
  status?: string;
  /** Live access grants of the account on this cluster: a deletion removes them with it. */
  grants?: ServiceAccountGrant[];
  /** The client quota Topicdesk holds for the principal (null: none). */
  quota?: ClientQuota | null;
  /** A quota.set for the principal awaiting approval. */
  pending_quota_request?: string | null;
}

export interface ServiceAccountGrant {
  topic: string;
  pattern?: string;
  access: string;
  group?: string | null;
  transactional_id?: string | null;
  status: string;
  expires_at?: string | null;
}

export interface ClientQuota {
  producer_byte_rate: number | null;
  consumer_byte_rate: number | null;
  request_percentage: number | null;
  /** applied (read back from the cluster), pending, error, ... */
  status: string;
  last_error?: string | null;
  managed_by?: string | null;
  applied_at?: string | null;
}

/** GET /api/v1/teams/{team}/tokens items (never the token itself). */
export interface ApiToken {
  id: string;
  team: string;
  name: string;
  role: "member" | "owner" | "admin";
  created_by?: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
}

/** POST /api/v1/teams/{team}/tokens (201): the token text, in this response only. */
export interface CreatedApiToken {
  id: string;
  team: string;
  name: string;
  role: "member" | "owner";
  expires_at: string | null;
  token: string;
}

/** POST /api/v1/clusters/{cluster}/service-accounts (201) and …/{principal}/rotate. */
export interface ServiceAccountCredentials {
  principal: string;
  username: string;
  /** Only in this response: shown once. */
  password: string;
  cluster: string;
  bootstrap_servers: string;
  security_protocol: string;
  sasl_mechanism: string;
}

export const REQUEST_KINDS = [
  "topic.create",
  "topic.update",
  "topic.delete",
  "access.grant",
  "access.revoke",
  "quota.set",
  "topic.migrate",
] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];

export const REQUEST_STATUSES = [
  "pending_approval",
  "denied",
  "rejected",
  "cancelled",
  "approved",
  "applying",
  "applied",
  "failed",
] as const;
export type RequestStatus = (typeof REQUEST_STATUSES)[number];

/** A request in one of these statuses will not change any more. */
export const FINAL_STATUSES: readonly RequestStatus[] = ["applied", "denied", "rejected", "cancelled", "failed"];

export type CleanupPolicy = "delete" | "compact" | "compact,delete";

export interface Consumer {
  principal: string;
  group: string;
  group_pattern?: "literal" | "prefixed";
}

export interface ExpectedThroughput {
  bytes_per_second: number;
  peak_bytes_per_second?: number;
  messages_per_second?: number;
  average_message_bytes?: number;
}

export interface TopicCreateSpec {
  name: string;
  partitions: number;
  replication_factor: number;
  config?: Record<string, string>;
  description?: string;
  producers?: string[];
  consumers?: Consumer[];
  expected_throughput?: ExpectedThroughput;
}

export interface AccessGrantSpec {
  topic: string;
  principal: string;
  access: "consume" | "produce";
  group?: string;
  transactional_id?: string;
  pattern?: "literal" | "prefixed";
}

/** The body of POST /api/v1/requests (and of its dry run). */
export type RequestSubmission =
  | { kind: "topic.create"; cluster: string; spec: TopicCreateSpec; reason?: string }
  | { kind: "access.grant" | "access.revoke"; cluster: string; spec: AccessGrantSpec; reason?: string }
  | { kind: Exclude<RequestKind, "topic.create" | "access.grant" | "access.revoke">; cluster: string; spec: Record<string, unknown>; reason?: string };

export type Outcome = "auto_approved" | "needs_approval" | "denied";
export type RuleEffect = "deny" | "require_approval" | "warn" | (string & {});

export interface DecisionRule {
  id: string;
  effect: RuleEffect;
  message: string;
}

export interface Decision {
  outcome: Outcome;
  rules: DecisionRule[];
  approvers: string[];
}

/** POST /api/v1/requests?dry_run=true (200). */
export interface DryRunResult {
  decision: Decision;
  dry_run?: boolean;
  /** topic.migrate only: the plan the request would be stored with. */
  migration_plan?: MigrationPlan | null;
}

export interface Approval {
  by: string;
  at: string;
  comment?: string;
}

/** Beyond the contract: one status change of a request, oldest first. */
export interface StatusChange {
  status: RequestStatus;
  at: string;
  by?: string | null;
  note?: string | null;
}

export interface TopicRequest {
  id: string;
  kind: RequestKind;
  cluster: string;
  spec: Record<string, unknown>;
  requested_by: string;
  created_at: string;
  status: RequestStatus;
  decision: Decision;
  approvals: Approval[];
  error: { reason: string; message: string } | null;
  applied_at: string | null;
  /** Beyond the contract (the server sends them today). */
  reason?: string | null;
  requester_team?: string;
  owner_team?: string;
  updated_at?: string;
  rejection_reason?: string | null;
  /** Beyond the contract: the status timeline; the portal derives one when absent. */
  history?: StatusChange[];
  /** Current -> new of every changed field (null in lists unless pending). */
  changes?: RequestChange[] | null;
  /** Who consumes the topic and the cluster's budgets after the change. */
  impact?: RequestImpact | null;
  attempts?: number;
  last_error?: { reason: string; message: string } | null;
  next_attempt_at?: string | null;
  /** topic.migrate only: the plan computed at submission (null: the clusters could not be read). */
  migration_plan?: MigrationPlan | null;
  /** topic.migrate only: the migration its last approval started (null until then). */
  migration_id?: string | null;
}

/** One field a request changes: null current = not set (the default); null new = back to the default. */
export interface RequestChange {
  field: string;
  current: unknown;
  new: unknown;
}

export interface Budget {
  used: number;
  after: number;
  budget: number | null;
}

export interface RequestImpact {
  consumers: Array<{ principal: string; group: string | null; team: string | null }>;
  consuming_teams: string[];
  partition_replicas: Budget;
  disk_bytes: Budget;
}

export interface MigrationPlanTopic {
  name: string;
  partitions: number;
  replication_factor: number;
  source_replication_factor: number;
  config: Record<string, string>;
  adjustments: { field: string; source: unknown; target: unknown; reason: string }[];
  refused: boolean;
  refusals: string[];
}

export interface MigrationPlan {
  source: string;
  target: string;
  topics: MigrationPlanTopic[];
  missing_topics: string[];
  conflicting_topics: string[];
  refused_topics: string[];
  grants: { topic: string; principal: string; access: "produce" | "consume"; group?: string; transactional_id?: string }[];
  service_accounts: { principal: string; team: string; exists_on_target: boolean; action: string }[];
  consumer_groups: { group: string; team: string | null; topics: string[]; state: string; members: number;
    lag: number | null; discovered: boolean }[];
  team_changes: { team: string; topics: string[]; consumer_groups: string[]; change: string[]; unchanged: string }[];
  notes: string[];
}

/** drifted: applied, but the last drift scan found the cluster differing (and nobody ignored it). */
export type ResourceStatus = "applied" | "drifted" | "pending" | "error" | "deleting" | "deleted" | (string & {});

export interface TopicSummary {
  cluster: string;
  name: string;
  owner_team: string;
  partitions: number;
  replication_factor: number;
  config: Record<string, string>;
  description?: string | null;
  status?: ResourceStatus;
  last_error?: string | null;
  /** The desired-state file (its source name) that manages the topic; null: the portal/API. */
  managed_by?: string | null;
}

export interface TopicState {
  partitions: number;
  replication_factor: number;
  config: Record<string, string>;
}

export type DriftAction = "revert" | "adopt" | "ignore";

/** One difference between desired and observed state found by the drift scan. */
export interface DriftItem {
  id?: string;
  key?: string;
  expected?: unknown;
  state?: "open" | "reverting" | "adopting" | "ignored" | (string & {});
  actions?: DriftAction[];
  ignore?: { reason: string; expires_at: string; by: string; at: string } | null;
  resource?: string;
  topic?: string;
  kind?: string;
  field?: string;
  desired?: unknown;
  observed?: unknown;
  actual?: unknown;
  message?: string;
  [key: string]: unknown;
}

export interface AccessGrant {
  principal: string;
  topic: string;
  access: "consume" | "produce";
  pattern?: "literal" | "prefixed";
  group?: string | null;
  /** How `group` matches: prefixed = every group starting with it (kept from a migration's source). */
  group_pattern?: "literal" | "prefixed" | null;
  transactional_id?: string | null;
  team?: string;
  status?: ResourceStatus;
  last_error?: string | null;
  /** The desired-state file that manages the grant; null: the portal/API. */
  managed_by?: string | null;
}

export interface TopicDetail extends TopicSummary {
  desired: TopicState;
  /** Beyond what the server sends today: what the cluster reported at the last read back or drift scan. */
  observed?: TopicState | null;
  observed_at?: string | null;
  drift: DriftItem[];
  drift_scanned_at?: string | null;
  access_grants: AccessGrant[];
  history: TopicRequest[];
  generation?: number;
  observed_generation?: number;
  applied_at?: string | null;
  /** The config keys the policies let a team set here (null: no limit). */
  editable_config_keys?: string[] | null;
  lifecycle?: "active" | "quarantined" | "deleting" | "deleted" | (string & {});
  quarantined_until?: string | null;
  deleted_at?: string | null;
  quarantined_grants?: AccessGrant[];
  deletion?: {
    request_id: string;
    requested_by: string | null;
    approved_by: string[];
    decided_by: string | null;
    quarantined_until: string | null;
    deleted_at: string | null;
  } | null;
}

export interface AuditEvent {
  id: string;
  event_id?: string;
  occurred_at: string;
  actor: string;
  action: string;
  subject: string;
  team?: string | null;
  data?: Record<string, unknown> | null;
  hash?: string;
  prev_hash?: string;
}

export interface AuditVerification {
  ok: boolean;
  events: number;
  head: string | null;
  first_bad: string | null;
  problem?: string | null;
  /** Events recorded but not chained yet (the server chains them before verifying, so usually 0). */
  pending?: number;
  oldest_pending?: string | null;
}

/** A team's webhook endpoint (GET/POST /api/v1/teams/{team}/notifications/subscriptions). */
export interface NotificationSubscription {
  id: string;
  team: string;
  url: string;
  event_types: string[];
  format: "cloudevents" | "slack";
  audience: "team" | "platform_admins";
  description: string;
  enabled: boolean;
  /** Why it is disabled (by an owner, or after failing deliveries). */
  disabled_reason: string | null;
  disabled_at: string | null;
  consecutive_failures: number;
  failing_since: string | null;
  last_delivery_at: string | null;
  pending_deliveries: number;
  created_at: string | null;
  /** Only in the answer to the create (and to a secret rotation). */
  secret?: string;
}

export interface NotificationSubscriptionInput {
  url: string;
  event_types: string[];
  format: "cloudevents" | "slack";
  description?: string;
}

export interface NotificationDelivery {
  event_id: string;
  event_type: string;
  attempt: number;
  attempted_at: string;
  result: "delivered" | "failed" | "timeout" | "unreachable" | "refused";
  status_code: number | null;
  error: string | null;
  duration_ms: number;
}

export interface NotificationEventTypes {
  event_types: string[];
  formats: string[];
  signature_header: string;
  replay_window_seconds: number;
}

/** The steps of a migration (domain/migration.py): forward, then the two ends off the path. */
export type MigrationStep =
  | "planned" | "mirroring" | "consumers_cut_over" | "producers_cut_over" | "source_quarantined" | "done"
  | "rolled_back" | "failed" | (string & {});

/** One condition of a step's gate: the measured `fact` compared with `op` to `value`. */
export interface GateCheck {
  fact: string;
  op: "<=" | "==" | ">=" | (string & {});
  value: unknown;
  description: string;
  /** Only on `gate` (the next step's checks, against the last measured facts). */
  passes?: boolean;
}

export interface MigrationTimelineStep {
  step: MigrationStep;
  status: "done" | "current" | "next" | "skipped" | (string & {});
  entered_at: string | null;
  gate: GateCheck[];
  can_roll_back: boolean;
}

export interface MigrationTransition {
  from: MigrationStep | null;
  to: MigrationStep;
  at: string;
  by: string;
  reason: string;
  facts: Record<string, unknown> | null;
}

export interface PartitionLag {
  topic: string;
  partition: number;
  source_end: number;
  target_end: number;
  lag: number;
}

export interface LagSample {
  at: string;
  total: number;
  max: number;
}

/** Before the first measurement the server sends measured_at, total and max as null and empty lists. */
export interface MigrationLag {
  measured_at: string | null;
  total: number | null;
  max: number | null;
  partitions: PartitionLag[];
  /** The last 120 measurements, oldest first. */
  history: LagSample[];
}

/** What the clean-up removed on one cluster once the mirror stopped for good. */
export interface MirrorCleanupSide {
  acls?: number;
  user?: string;
  topics?: string[];
}

export interface MirrorState {
  engine: string;
  state: string;
  detail: string;
  /** The mirror's own SCRAM principal on both clusters (never the admin). */
  principal?: string;
  access?: "granted" | "revoked" | (string & {});
  cleanup?: { at?: string; source?: MirrorCleanupSide; target?: MirrorCleanupSide } | null;
}

export interface MigrationGroup {
  group: string;
  team: string | null;
  source_members: number | null;
  target_members: number | null;
  offsets_translated: boolean | null;
  /** Exact offsets committed on the target for every partition the group committed on the source. */
  ready_on_target?: boolean | null;
  translation?: "exact" | "mirrormaker" | (string & {}) | null;
  translation_note?: string | null;
}

export interface TeamAction {
  team: string;
  role: "producer" | "consumer" | "owner" | "source_owner" | (string & {});
  now: string[];
  done: boolean;
}

export interface PartitionVerification {
  topic: string;
  partition: number;
  source_count: number;
  target_count: number;
  sampled: number;
  identical: boolean;
}

export interface MigrationVerification {
  passed: boolean;
  at: string;
  partitions: PartitionVerification[];
  mismatches: Array<string | Record<string, unknown>>;
}

/** GET /api/v1/migrations/{id}; the driver's fields (facts .. last_error) may be absent on older servers. */
export interface Migration {
  id: string;
  request_id: string;
  source_cluster: string;
  target_cluster: string;
  owner_team: string;
  topics: string[];
  step: MigrationStep;
  can_roll_back: boolean;
  next_steps: MigrationStep[];
  steps: MigrationTimelineStep[];
  history: MigrationTransition[];
  verification: MigrationVerification | null;
  plan: MigrationPlan | null;
  created_at: string;
  updated_at: string;
  facts?: Record<string, unknown> | null;
  facts_at?: string | null;
  gate?: GateCheck[] | null;
  lag?: MigrationLag | null;
  mirror?: MirrorState | null;
  groups?: MigrationGroup[] | null;
  team_actions?: TeamAction[] | null;
  last_error?: string | null;
  /** Who confirmed producers write to the target (at producers_cut_over); null until then. */
  producers_switched_by?: string | null;
  finished_at?: string | null;
}
