/** Types for markdown-output.mjs (plain JS so that Node scripts can import it too). */
export declare function markdownOutputHtml(source: string): string;
