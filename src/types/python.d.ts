/** keeper/keeper.py is bundled as text (esbuild loader `.py: text`). */
declare module '*.py' {
  const text: string;
  export default text;
}
