/** Types of scripts/layers.mjs, for the tests that read its tables. */
export declare const LAYERS: Record<string, string[]>;
export declare const PACKAGES: Record<string, string[]>;
export declare function layerOf(file: string, src: string): string | undefined;
export declare function layersPlugin(src: string): unknown;
