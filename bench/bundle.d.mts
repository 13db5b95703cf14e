export function bundled(entry: string, name: string, watch?: string[]): Promise<string | undefined>;
