/**
 * Python services end to end: the loader, the parser's notes, one report per Python service in a
 * repository, and the repository's own Python example audited near-clean.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { auditDirectory, auditRepository, type AuditReport } from '@tessera/auditor';
import { isPythonProjectFile } from '../src/python/files.ts';

const roots: string[] = [];
after(() => Promise.all(roots.map((r) => rm(r, { recursive: true, force: true }))));

async function writeTree(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'tessera-python-'));
  roots.push(root);
  for (const [file, text] of Object.entries(files)) {
    const abs = path.join(root, ...file.split('/'));
    await mkdir(path.dirname(abs), { recursive: true });
    await writeFile(abs, text);
  }
  return root;
}

const status = (report: AuditReport, id: string) => report.checks.find((c) => c.id === id)?.status;

const SERVICE = (name: string) => ({
  [`${name}/pyproject.toml`]: `[project]\nname = "${name}-svc"\ndependencies = ["fastapi>=0.100", "uvicorn"]\n`,
  [`${name}/app/main.py`]: `from fastapi import FastAPI\n\napp = FastAPI()\n\n\n@app.post("/${name}/jobs")\nasync def create_job(job: dict):\n    return job\n`,
});

describe('Python files the loader reads', () => {
  it('skips virtualenvs, caches and tests, keeps code and requirements', () => {
    assert.equal(isPythonProjectFile('app/main.py'), true);
    assert.equal(isPythonProjectFile('requirements-dev.txt'), true);
    assert.equal(isPythonProjectFile('.venv/lib/python3.12/site-packages/httpx/_client.py'), false);
    assert.equal(isPythonProjectFile('app/__pycache__/main.py'), false);
    assert.equal(isPythonProjectFile('tests/test_main.py'), false);
    assert.equal(isPythonProjectFile('app/test_routes.py'), false);
    assert.equal(isPythonProjectFile('app/conftest.py'), false);
  });
});

describe('Python services in an audit', () => {
  it('a FastAPI service gets decided inbound checks, not N/A for everything', async () => {
    const root = await writeTree(SERVICE('billing'));
    const report = await auditDirectory(path.join(root, 'billing'));
    assert.equal(status(report, 'SE1'), 'FAIL');
    const se1 = report.checks.find((c) => c.id === 'SE1');
    assert.deepEqual(
      se1?.evidence.map((e) => `${e.file}:${String(e.line)}`),
      ['app/main.py:6'],
    );
    assert.equal(status(report, 'SC15'), 'N/A');
  });

  it('a file that does not parse is a note, and the rest is still analysed', async () => {
    const root = await writeTree({
      ...SERVICE('billing'),
      'billing/app/broken.py': 'def half(:\n    return\n',
    });
    const report = await auditDirectory(path.join(root, 'billing'));
    assert.ok(
      report.notes.some((n) => n.startsWith('app/broken.py:1:')),
      report.notes.join('\n'),
    );
    assert.equal(status(report, 'SE1'), 'FAIL');
  });

  it('a repository with two Python services gives one report each, named from pyproject.toml', async () => {
    const root = await writeTree({
      ...SERVICE('billing'),
      ...SERVICE('shipping'),
      'docker-compose.yml':
        'services:\n  billing:\n    build: ./billing\n  shipping:\n    build: ./shipping\n',
      'tools/seed.py': 'from fastapi import FastAPI\napp = FastAPI()\n',
      'tools/pyproject.toml': '[project]\nname = "seed-tool"\n',
    });
    const audit = await auditRepository(root);
    assert.deepEqual(audit.found, ['billing-svc', 'shipping-svc']);
    const billing = audit.services.find((s) => s.name === 'billing-svc');
    assert.equal(billing?.path, 'billing');
    assert.ok(billing);
    const evidence = billing.report.checks.find((c) => c.id === 'SE1')?.evidence ?? [];
    assert.deepEqual(
      evidence.map((e) => e.file),
      ['billing/app/main.py'],
    );
  });
});

describe("the repository's own Python example (examples/python-fastapi)", () => {
  it('comes out near-clean: verified Tessera tokens, no open route, no secret in code', async () => {
    const example = fileURLToPath(new URL('../../../examples/python-fastapi', import.meta.url));
    const report = await auditDirectory(example);
    const must = [
      'SE1',
      'SE3',
      'SE4',
      'SE5',
      'SE6',
      'SE7',
      'SE9',
      'SE12',
      'SE18',
      'SV7',
      'SV11',
      'SM2',
      'SM5',
      'TM4',
      'TM5',
      'FS1',
      'FS2',
    ];
    for (const id of must)
      assert.equal(
        status(report, id),
        'PASS',
        `${id}: ${JSON.stringify(report.checks.find((c) => c.id === id))}`,
      );
    const critical = report.checks.filter((c) => c.severity === 'CRITICAL' && c.status === 'FAIL');
    assert.deepEqual(
      critical.map((c) => c.id),
      [],
    );
  });
});
