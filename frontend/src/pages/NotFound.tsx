import { EmptyState, PageHeader } from "../components/ui";
import { useTitle } from "../hooks";
import { routes } from "../lib/route";
import { Link } from "../router";

export function NotFoundPage() {
  useTitle("Not found");
  return (
    <>
      <PageHeader title="Page not found" />
      <EmptyState title="There is no page at this address.">
        Go to the <Link to={routes.dashboard()}>dashboard</Link>.
      </EmptyState>
    </>
  );
}
