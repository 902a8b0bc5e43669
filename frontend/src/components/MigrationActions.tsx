import { useState } from "react";
import { api } from "../api/client";
import type { Cluster, Migration } from "../api/types";
import { canRollBackMigration, canSayProducersSwitched } from "../lib/migration";
import { useSession } from "../hooks";
import { Banner, Field, errorMessage } from "./ui";

/**
 * Roll back (until producers switch; an owner of either side or a platform admin, with a reason) and
 * "Producers switched" (the owning team, at producers_cut_over). The server decides; these buttons
 * show only for who it would allow.
 */
export function MigrationActions({ migration, clusters, onChanged }: {
  migration: Migration; clusters: Cluster[]; onChanged: (migration: Migration) => void;
}) {
  const session = useSession();
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState("");
  const [tried, setTried] = useState(false);
  const [busy, setBusy] = useState<"rollback" | "switched" | null>(null);
  const [error, setError] = useState<string | null>(null);
  const mayRollBack = canRollBackMigration(session, migration, clusters);
  const maySwitch = canSayProducersSwitched(session, migration);
  const switched = migration.producers_switched_by ? (
    <p className="small" data-testid="producers-switched-by">
      <strong>{migration.producers_switched_by}</strong> confirmed producers write to {migration.target_cluster}.
    </p>
  ) : null;
  if (!mayRollBack && !maySwitch) return switched;

  const run = async (which: "rollback" | "switched") => {
    setBusy(which);
    setError(null);
    try {
      const next = which === "rollback"
        ? await api.rollBackMigration(migration.id, reason.trim()) : await api.producersSwitched(migration.id);
      onChanged(next);
      setOpen(false);
    } catch (failure) {
      setError(errorMessage(failure));
    } finally {
      setBusy(null);
    }
  };

  const missing = !reason.trim();
  return (
    <div className="migration-actions" data-testid="migration-actions">
      {switched}
      <div className="button-row">
        {maySwitch ? (
          <button type="button" className="button button-primary" disabled={busy !== null} data-testid="producers-switched"
            onClick={() => void run("switched")}>
            {busy === "switched" ? "Saving…" : "Producers switched"}
          </button>
        ) : null}
        {mayRollBack ? (
          <button type="button" className="button button-danger" aria-expanded={open} data-testid="rollback-open"
            onClick={() => setOpen((o) => !o)}>
            Roll back…
          </button>
        ) : null}
      </div>
      {maySwitch ? (
        <p className="small muted">
          Press once your producers write to {migration.target_cluster}: the mirror stops and the source is quarantined.
        </p>
      ) : null}
      {open && mayRollBack ? (
        <form className="action-panel" data-testid="rollback-form" noValidate onSubmit={(event) => {
          event.preventDefault();
          setTried(true);
          if (!missing) void run("rollback");
        }}>
          <h3>Roll back this migration</h3>
          <ul className="small">
            <li>The mirror stops; nothing more is copied to {migration.target_cluster}.</li>
            <li>Write access on {migration.source_cluster} is restored, so producers keep writing there.</li>
            <li>Consumers go back to the source, where every record still is.</li>
            <li>The target topics are kept (with what was mirrored); delete them with a request if you want them gone.</li>
          </ul>
          <Field label="Reason (required)" name="rollback-reason" errors={tried && missing ? ["say why you roll back"] : undefined}>
            {(props) => (
              <textarea {...props} rows={2} value={reason} data-testid="rollback-reason"
                onChange={(event) => setReason(event.target.value)} />
            )}
          </Field>
          <div className="button-row">
            <button type="submit" className="button button-danger" disabled={busy !== null} data-testid="rollback-submit">
              {busy === "rollback" ? "Rolling back…" : "Roll back"}
            </button>
            <button type="button" className="button" onClick={() => setOpen(false)}>Keep going</button>
          </div>
        </form>
      ) : null}
      {error ? <Banner title="That did not work">{error}</Banner> : null}
    </div>
  );
}
