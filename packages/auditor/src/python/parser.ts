/**
 * Python syntax trees from tree-sitter's Python grammar (web-tree-sitter, WebAssembly). The
 * grammar loads once per process, and only when a project has Python files; each parse is copied
 * into plain objects so no WebAssembly memory outlives the call.
 */
import { createRequire } from 'node:module';
import type {
  Language as LanguageType,
  Node as TsNode,
  Parser as ParserType,
  TreeCursor,
} from 'web-tree-sitter';

/** One named node of a Python syntax tree. */
export interface PyNode {
  readonly type: string;
  /** The node's source text. */
  readonly text: string;
  /** 1-based line of the node's first character. */
  readonly line: number;
  /** 1-based line of the node's last character. */
  readonly endLine: number;
  /** Named children, in source order. */
  readonly children: readonly PyNode[];
  /** Children the grammar names (`function`, `arguments`, `name`, `body`, ...). */
  readonly fields: Readonly<Record<string, PyNode>>;
  parent: PyNode | undefined;
}

let loading: Promise<ParserType | string> | undefined;
let parser: ParserType | undefined;

/**
 * Loads the parser (once per process). Resolves to an error message when the grammar cannot be
 * loaded; the audit then notes it and analyses no Python.
 */
export function loadPythonParser(): Promise<string | undefined> {
  loading ??= (async () => {
    try {
      const require = createRequire(import.meta.url);
      const { Parser, Language } = (await import('web-tree-sitter')) as {
        Parser: typeof ParserType;
        Language: typeof LanguageType;
      };
      await Parser.init();
      const language = await Language.load(
        require.resolve('tree-sitter-python/tree-sitter-python.wasm'),
      );
      const created = new Parser();
      created.setLanguage(language);
      parser = created;
      return created;
    } catch (error) {
      return `the Python parser could not be loaded (${String(error)})`;
    }
  })();
  return loading.then((result) => (typeof result === 'string' ? result : undefined));
}

/** The result of parsing one file: its tree, and the first syntax error's line when it has one. */
export interface ParsedPython {
  readonly root: PyNode;
  readonly errorLine: number | undefined;
}

/** Parses `text`; undefined when the parser is not loaded or the parse fails. Never throws. */
export function parsePython(text: string): ParsedPython | undefined {
  if (parser === undefined) return undefined;
  let tree;
  try {
    tree = parser.parse(text);
  } catch {
    return undefined;
  }
  if (tree === null) return undefined;
  try {
    const errorLine = { value: undefined as number | undefined };
    const root = copy(tree.rootNode, text, errorLine);
    return { root, errorLine: errorLine.value };
  } finally {
    tree.delete();
  }
}

function copy(node: TsNode, text: string, errorLine: { value: number | undefined }): PyNode {
  const cursor = node.walk();
  try {
    return copyAt(cursor, text, errorLine);
  } finally {
    cursor.delete();
  }
}

/** Copies the cursor's node and its named descendants; the cursor ends where it started. */
function copyAt(
  cursor: TreeCursor,
  text: string,
  errorLine: { value: number | undefined },
): PyNode {
  const children: PyNode[] = [];
  const fields: Record<string, PyNode> = {};
  const out: PyNode = {
    type: cursor.nodeType,
    text: text.slice(cursor.startIndex, cursor.endIndex),
    line: cursor.startPosition.row + 1,
    endLine: cursor.endPosition.row + 1,
    children,
    fields,
    parent: undefined,
  };
  if (cursor.nodeType === 'ERROR' && errorLine.value === undefined) {
    errorLine.value = out.line;
  }
  if (cursor.gotoFirstChild()) {
    do {
      if (cursor.nodeIsMissing && errorLine.value === undefined) {
        errorLine.value = cursor.startPosition.row + 1;
      }
      if (!cursor.nodeIsNamed) continue;
      const field = cursor.currentFieldName;
      const copied = copyAt(cursor, text, errorLine);
      copied.parent = out;
      children.push(copied);
      if (field !== null && !(field in fields)) fields[field] = copied;
    } while (cursor.gotoNextSibling());
    cursor.gotoParent();
  }
  return out;
}
