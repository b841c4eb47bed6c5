// SynthCV: UnrealCV commands for synth (see ue_plugin/README.md).
#pragma once

#include "CoreMinimal.h"
#include "Engine/EngineBaseTypes.h"
#include "Server/ExecStatus.h"

class FCommandDispatcher;
class AActor;
class USkeletalMeshComponent;
class UWorld;

/**
 * The /synth commands. Every template here must equal one in synth/render/unreal/protocol.py (SYNTH_COMMANDS); the
 * Python tests compare the two lists. Units: Unreal centimetres and degrees, animation time in seconds.
 *
 * All handlers run on the game thread (UnrealCV's dispatcher is called from FUnrealcvServer::Tick), also while the
 * game is paused, which is how synth captures: pause, then per frame pose the character, move the cameras, capture.
 */
class FSynthCommands : public TSharedFromThis<FSynthCommands>
{
public:
	/** Bind every command; call once, after UnrealCV registered its own. */
	void Register(FCommandDispatcher& Dispatcher);
	/** Remove the world-tick hook of the step mode. */
	void Unregister();

	FExecStatus GetVersion(const TArray<FString>& Args);
	FExecStatus OpenMap(const TArray<FString>& Args);
	FExecStatus GetMap(const TArray<FString>& Args);
	FExecStatus SetLighting(const TArray<FString>& Args);
	FExecStatus SpawnCharacter(const TArray<FString>& Args);
	FExecStatus SetAnimation(const TArray<FString>& Args);
	FExecStatus SetAnimationTime(const TArray<FString>& Args);
	FExecStatus GetBones(const TArray<FString>& Args);
	FExecStatus DestroyCharacter(const TArray<FString>& Args);
	FExecStatus SetLens(const TArray<FString>& Args);
	FExecStatus SetCaptureMode(const TArray<FString>& Args);
	FExecStatus PrepareCameras(const TArray<FString>& Args);
	FExecStatus Step(const TArray<FString>& Args);
	FExecStatus GetStep(const TArray<FString>& Args);
	FExecStatus GetLitHash(const TArray<FString>& Args);

private:
	/** The character actor this plugin spawned under Name (never a level actor of that name), or nullptr. */
	AActor* FindCharacter(const FString& Name) const;
	/** Its skeletal mesh component (ACharacter::GetMesh() for characters), or an error message in OutError. */
	USkeletalMeshComponent* FindMesh(const FString& Name, FString& OutError) const;
	/** Capture settings of every capture camera (sensor ids >= 1) for the current capture mode. */
	void ApplyTemporalSettings();
	/** Re-pauses the world after the requested fixed steps (FWorldDelegates::OnWorldPostActorTick). */
	void OnWorldPostActorTick(UWorld* World, ELevelTick TickType, float DeltaSeconds);

	TMap<FString, TWeakObjectPtr<AActor>> Characters;
	/** Package path asked for by OpenMap until the new world is ready. */
	FString PendingMap;
	/** The world that was current when OpenMap was called: "ready" is never answered from it. */
	TWeakObjectPtr<UWorld> OldWorld;
	/** GFrameCounter when everything but frame-based streaming (Nanite, virtual textures) was done; 0: not yet. */
	uint64 SettledSinceFrame = 0;
	/** "paused" or "step" (vset /synth/capture_mode). */
	FString Mode = TEXT("paused");
	/** Renders per capture camera and frame before the capture; 0 = temporal effects off. */
	int32 SettleRenders = 0;
	/** Fixed time steps still to run in step mode. */
	int32 StepsPending = 0;
	FDelegateHandle PostTickHandle;
};
