/** Expands {venv}, {release} and {install_dir} in a configured argv. */
export interface Placeholders {
  venv: string;
  release: string;
  install_dir: string;
}

export function expandArgv(argv: readonly string[], values: Placeholders): string[] {
  return argv.map((arg) =>
    arg.replace(
      /\{(venv|release|install_dir)\}/g,
      (_match, name: keyof Placeholders) => values[name],
    ),
  );
}
