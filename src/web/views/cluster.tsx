// Why this file exists: the Cluster view — each tracker node's role, term, commit and applied
// index, and the leader, as the stream's 'cluster' events tell them.

import type { ClusterView as Cluster } from '../../peer/web/web-api.js';

const dash = (value: number | string | null): string => (value === null ? '—' : String(value));

export function ClusterView(props: { cluster: Cluster | null }) {
  const { cluster } = props;
  if (cluster === null) return <p class="card muted">No word from the cluster yet.</p>;
  return (
    <section class="card">
      <h2>Tracker cluster</h2>
      <p>
        Leader: <strong data-testid="cluster-leader">{cluster.leader ?? 'none known'}</strong>
      </p>
      <table class="cards" data-testid="cluster-nodes">
        <thead>
          <tr>
            <th>Node</th>
            <th>Role</th>
            <th>Term</th>
            <th>Commit</th>
            <th>Applied</th>
            <th>Leader it knows</th>
          </tr>
        </thead>
        <tbody>
          {cluster.nodes.map((node) => (
            <tr key={node.address} data-testid="cluster-node" data-address={node.address} data-role={node.role ?? 'unknown'} class={node.id !== null && node.id === cluster.leader ? 'leader' : undefined}>
              <td data-label="Node" class="name">
                {node.id ?? '?'} <span class="muted small">{node.address}</span>
              </td>
              <td data-label="Role" data-testid="cluster-node-role">
                {node.failure !== null ? <span class="badge badge-failed">{node.failure}</span> : <span class={`badge badge-role-${node.role ?? 'unknown'}`}>{dash(node.role)}</span>}
              </td>
              <td data-label="Term">{dash(node.term)}</td>
              <td data-label="Commit">{dash(node.commit)}</td>
              <td data-label="Applied">{dash(node.applied)}</td>
              <td data-label="Leader it knows">{dash(node.leader)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
