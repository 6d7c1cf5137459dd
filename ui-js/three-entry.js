// The parts of three.js the viewer draws with; esbuild keeps only these.
export {
  BufferAttribute, BufferGeometry, Color, CylinderGeometry, Float32BufferAttribute,
  Group, InstancedMesh, LineBasicMaterial, LineSegments, Matrix4, MeshPhongMaterial,
  AmbientLight, DirectionalLight, PerspectiveCamera, Points, PointsMaterial, Quaternion,
  Scene, SphereGeometry, Vector3, WebGLRenderer, Box3, Sphere,
} from "three";
export { OrbitControls } from "three/examples/jsm/controls/OrbitControls.js";
